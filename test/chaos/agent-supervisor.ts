/**
 * The agent under test, as a child process that the chaos kills and starts again on the same data
 * directory. An exit the harness did not cause is a finding of its own (kept, and the agent is
 * started again so the run goes on). Each process's log is saved beside the run's report.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { AgentProcess } from '../helpers/agent-process.js';

export interface AgentSettings {
  readonly dataDir: string;
  readonly logDir: string;
  readonly dockerHost: string;
  readonly elasticsearchUrl: string | undefined;
  /** Label selecting the run's containers (`key=value`). */
  readonly containersLabel: string;
  readonly fileSink: boolean;
}

export class AgentSupervisor {
  private current: AgentProcess | undefined;
  private instances = 0;
  private expectingExit = false;
  private stopping = false;
  /** Exits nobody asked for, with the end of the agent's log. */
  readonly crashes: string[] = [];

  constructor(private readonly settings: AgentSettings, private readonly log: (line: string) => void) {}

  get up(): boolean {
    return this.current !== undefined && this.current.child.exitCode === null && this.current.child.signalCode === null;
  }

  get url(): string | undefined {
    return this.current?.url;
  }

  async start(): Promise<void> {
    const n = ++this.instances;
    const agent = await AgentProcess.start({ dataDir: this.settings.dataDir, env: this.env(), config: this.config() });
    this.current = agent;
    this.expectingExit = false;
    void agent.exited.then((result) => this.onExit(agent, n, result));
    await agent.waitListening(90_000);
  }

  /** SIGKILL: a crash, nothing flushed. */
  async kill(): Promise<void> {
    const agent = this.current;
    if (!agent || !this.up) return;
    this.expectingExit = true;
    await agent.kill();
  }

  /** SIGTERM, as an operator stops it. */
  async stop(): Promise<void> {
    this.stopping = true;
    const agent = this.current;
    if (!agent) return;
    this.expectingExit = true;
    await agent.stop(30_000);
  }

  private onExit(agent: AgentProcess, n: number, result: { code: number | null; signal: NodeJS.Signals | null }): void {
    writeFileSync(path.join(this.settings.logDir, `agent-${String(n).padStart(3, '0')}.log`), agent.stderr);
    if (this.expectingExit || agent !== this.current) return;
    const crash = `agent #${n} exited by itself (code ${result.code}, signal ${result.signal}): ${agent.stderr.slice(-600)}`;
    this.crashes.push(crash);
    this.log(`chaos: ${crash}`);
    if (!this.stopping) void this.start().catch((error: unknown) => this.log(`chaos: restarting the agent failed: ${(error as Error).message}`));
  }

  private env(): NodeJS.ProcessEnv {
    return { DOCKER_HOST: this.settings.dockerHost, ...(this.settings.elasticsearchUrl ? { ELASTICSEARCH_URL: this.settings.elasticsearchUrl } : {}) };
  }

  private config(): Record<string, unknown> {
    return {
      log: { level: 'info' },
      collectors: {
        stats: { enabled: false },
        engine: { enabled: false },
        logs: { include: { labels: [this.settings.containersLabel] }, history: 'all' },
      },
      exporters: {
        prometheus: { enabled: false },
        file: this.settings.fileSink ? { enabled: true, kinds: ['log'] } : { enabled: false },
        elasticsearch: this.settings.elasticsearchUrl ? { retry: { initial_ms: 200, max_ms: 2000 } } : { enabled: false },
      },
    };
  }
}
