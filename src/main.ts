#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4
/**
 * dockhand CLI: parse flags → load config → start the agent → stop on SIGTERM/SIGINT.
 * Exit codes: 0 clean stop, 2 bad configuration, 1 failure to start, 130/143 on a second signal.
 */
import { parseArgs } from 'node:util';
import { loadConfig, maskSecrets } from '../config/loader.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger, silentLogger } from './telemetry/logger.js';
import { AGENT_VERSION } from './version.js';
import { Agent } from './agent.js';

const HELP = `dockhand ${AGENT_VERSION}: ships Docker logs, events and metrics to Prometheus and Elasticsearch

Usage: dockhand [options]

Options:
  -c, --config FILE      YAML config file (env DOCKHAND_CONFIG)
      --listen HOST:PORT HTTP address for /healthz /readyz /metrics /status
                         (env DOCKHAND_LISTEN, default 127.0.0.1:9487)
      --data-dir DIR     checkpoints and file sink (env DOCKHAND_DATA_DIR, default ./data)
  -D, --debug            debug logging (env DOCKHAND_LOG_LEVEL sets any level)
      --check-config     validate the configuration, print it (secrets masked), exit 0 or 2
      --version          print the version
  -h, --help             print this help

The Docker daemon is found as the docker CLI finds it: DOCKER_HOST (+ DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH), DOCKER_CONTEXT or the current context in $DOCKER_CONFIG/config.json,
else /var/run/docker.sock. Elasticsearch is enabled by ELASTICSEARCH_URL.
`;

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      debug: { type: 'boolean', short: 'D' },
      'check-config': { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

/** Exit code 2 for a ConfigError, said key by key; anything else is not a configuration problem. */
function reportConfigError(error: unknown): number {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`dockhand: invalid configuration:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv);
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

  let config;
  try {
    config = loadConfig({ config: flags.config, listen: flags.listen, dataDir: flags['data-dir'], debug: flags.debug }, process.env);
    if (flags['check-config']) {
      // Built as a start builds it (endpoint, exporters, collectors): refuses whatever a start would refuse.
      const agent = new Agent(config, silentLogger());
      process.stdout.write(`${JSON.stringify({ docker_endpoint: agent.connection.description, config: maskSecrets(config) }, null, 2)}\n`);
      return 0;
    }
  } catch (error) {
    return reportConfigError(error);
  }

  const logger = createLogger(config.log);
  process.on('unhandledRejection', (reason) => logger.error({ err: errorMessage(reason) }, 'unhandled rejection'));
  let agent: Agent;
  try {
    agent = new Agent(config, logger);
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
