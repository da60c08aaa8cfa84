#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=16
/**
 * dockhand CLI: parse flags → load config → start the agent → stop on SIGTERM/SIGINT.
 * Exit codes: 0 clean stop, 2 bad configuration, 1 failure to start, 130/143 on a second signal.
 * `dockhand healthcheck` (the image's HEALTHCHECK): 0 healthy, 1 not.
 */
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { loadEffectiveConfig, maskSecrets, type ConfigFlags, type LoadedConfig } from '../config/loader.js';
import { checkHealth, healthzUrl, type HealthcheckSettings } from './healthcheck.js';
import { ConfigError, errorMessage } from './errors.js';
import type { Logger } from './telemetry/logger.js';
import { AGENT_VERSION } from './version.js';
import type { Agent } from './agent.js';

const HELP = `dockhand ${AGENT_VERSION}: ships Docker logs, events and metrics to Prometheus and Elasticsearch

Usage: dockhand [options]
       dockhand healthcheck [-c FILE] [--listen HOST:PORT]

Commands:
  healthcheck            GET /healthz at the configured listen address (0.0.0.0 asked on
                         127.0.0.1); exit 0 healthy, 1 not. The image's HEALTHCHECK.

Options:
  -c, --config FILE      YAML config file (env DOCKHAND_CONFIG)
      --listen HOST:PORT HTTP address for /healthz /readyz /metrics /status
                         (env DOCKHAND_LISTEN, default 127.0.0.1:9487)
      --data-dir DIR     checkpoints and file sink (env DOCKHAND_DATA_DIR, default ./data)
  -D, --debug            debug logging (env DOCKHAND_LOG_LEVEL sets any level)
      --check-config     validate the configuration, print the effective one as YAML
                         (secrets masked), exit 0 or 2
      --version          print the version
  -h, --help             print this help

The Docker daemon is found as the docker CLI finds it: DOCKER_HOST (+ DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH), DOCKER_CONTEXT or the current context in $DOCKER_CONFIG/config.json,
else /var/run/docker.sock. Elasticsearch is enabled by ELASTICSEARCH_URL.

Every config key can be set from the environment: DOCKHAND_ and its path upper-cased with __
between levels, e.g. DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORDS=500. Values in the
file may use \${VAR}, \${VAR:-default} and \${VAR:?message}; $$ is a literal $.
Later wins: defaults, file, DOCKER_HOST-style variables, DOCKHAND_<PATH> variables, flags.
`;

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      debug: { type: 'boolean', short: 'D' },
      'check-config': { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Exit code 2 for a ConfigError, said key by key; anything else is not a configuration problem. */
function reportConfigError(error: unknown, code = 2): number {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`dockhand: invalid configuration:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  return code;
}

/** The effective config as YAML a file could hold (secrets masked), the daemon it resolves to in a comment. */
function renderEffectiveConfig(config: object, dockerEndpoint: string): string {
  return `# dockhand ${AGENT_VERSION}: the effective configuration (secrets masked)\n# docker endpoint: ${dockerEndpoint}\n${YAML.stringify(maskSecrets(config), { lineWidth: 0 })}`;
}

async function healthcheck(flags: ConfigFlags): Promise<number> {
  let url: string;
  try {
    url = healthzUrl(loadEffectiveConfig(flags, process.env).config as HealthcheckSettings);
  } catch (error) {
    // Docker reserves exit code 2 of a healthcheck: a config it cannot read is "unhealthy".
    return reportConfigError(error, 1);
  }
  const answer = await checkHealth(url);
  process.stdout.write(`${answer.healthy ? 'healthy' : 'unhealthy'}: ${answer.detail}\n`);
  return answer.healthy ? 0 : 1;
}

/**
 * The agent for a config; a problem found while building it names where the value came from
 * (DOCKER_HOST, file:line). Loaded on demand: `dockhand healthcheck`, run every 15 s by Docker,
 * does not pay for loading the agent.
 */
async function buildAgent(loaded: LoadedConfig, logger: Logger): Promise<Agent> {
  const { Agent } = await import('./agent.js');
  try {
    return new Agent(loaded.config, logger);
  } catch (error) {
    throw error instanceof ConfigError ? loaded.explain(error) : error;
  }
}

async function main(argv: string[]): Promise<number> {
  let flags: ReturnType<typeof parseFlags>['values'];
  let command: string | undefined;
  try {
    const parsed = parseFlags(argv);
    flags = parsed.values;
    command = parsed.positionals[0];
    if (parsed.positionals.length > (command === 'healthcheck' ? 1 : 0)) throw new Error(`unexpected argument ${JSON.stringify(parsed.positionals.at(-1))}`);
  } catch (error) {
    process.stderr.write(`dockhand: ${errorMessage(error)}\n\n${HELP}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }

  const configFlags: ConfigFlags = { config: flags.config, listen: flags.listen, dataDir: flags['data-dir'], debug: flags.debug };
  if (command === 'healthcheck') return healthcheck(configFlags);
  const { createLogger, silentLogger } = await import('./telemetry/logger.js');

  let loaded;
  try {
    loaded = loadEffectiveConfig(configFlags, process.env);
    if (flags['check-config']) {
      // Built as a start builds it (endpoint, exporters, collectors): refuses whatever a start would refuse.
      const agent = await buildAgent(loaded, silentLogger());
      process.stdout.write(renderEffectiveConfig(loaded.config, agent.connection.description));
      return 0;
    }
  } catch (error) {
    return reportConfigError(error);
  }
  const config = loaded.config;

  const logger = createLogger(config.log);
  process.on('unhandledRejection', (reason) => logger.error({ err: errorMessage(reason) }, 'unhandled rejection'));
  let agent: Agent;
  try {
    agent = await buildAgent(loaded, logger);
  } catch (error) {
    return reportConfigError(error);
  }

  const stopped = new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now');
        logger.flush();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      agent.stop(signal).then(() => resolve(0), (error) => {
        logger.error({ err: errorMessage(error) }, 'error while stopping');
        resolve(1);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  try {
    await agent.start();
  } catch (error) {
    logger.fatal({ err: errorMessage(error) }, 'dockhand failed to start');
    await agent.stop('start failed').catch(() => undefined);
    logger.flush();
    return 1;
  }
  const code = await stopped;
  logger.flush();
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Streams and timers left by libraries must not keep a stopped agent alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`dockhand: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
