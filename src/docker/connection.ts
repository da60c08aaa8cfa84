/**
 * The one connection to the Docker daemon: a read-only dockerode client, API version
 * negotiation, and up/down tracking with capped exponential backoff. Collectors report
 * failures here and wait for `waitUntilUp`; /readyz reads `health()`.
 */
import https from 'node:https';
import { EventEmitter } from 'node:events';
import Docker from 'dockerode';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';
import type { Health } from '../component.js';
import { ReadOnlyViolation, errorMessage } from '../errors.js';
import { Backoff, sleep } from '../util/backoff.js';
import { describeEndpoint, type DockerEndpoint } from './endpoint.js';

/** The newest Engine API this agent was written against; older daemons are spoken to in their own version. */
export const MAX_API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

export interface ConnectionSettings {
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly requestTimeoutMs: number;
}

export interface DaemonInfo {
  readonly apiVersion: string;
  readonly version: string;
  readonly os: string;
  readonly kernel: string;
  readonly hostName: string;
  readonly storageDriver: string;
  readonly cgroupDriver: string;
  readonly cgroupVersion: string;
  readonly dockerRootDir: string;
}

type State = 'connecting' | 'up' | 'down' | 'stopped';

export function compareApiVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Wraps the modem so that anything but GET (and HEAD) is refused before it leaves the process. */
export function guardReadOnly(docker: Docker): Docker {
  const modem = docker.modem as unknown as { dial(options: { method?: string; path?: string }, callback: (err: unknown, data?: unknown) => void): unknown };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    const method = (options.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      const error = new ReadOnlyViolation(method, options.path ?? '?');
      queueMicrotask(() => callback(error));
      return undefined;
    }
    return dial(options, callback);
  };
  return docker;
}

export function createDockerode(endpoint: DockerEndpoint, timeoutMs?: number, version?: string): Docker {
  const common = { ...(version ? { version: `v${version}` } : {}), ...(timeoutMs ? { timeout: timeoutMs } : {}) };
  if (endpoint.kind === 'unix') return guardReadOnly(new Docker({ socketPath: endpoint.socketPath, ...common }));
  const tls = endpoint.tls;
  if (!tls) return guardReadOnly(new Docker({ host: endpoint.host, port: endpoint.port, protocol: 'http', ...common }));
  const material = { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) };
  const agent = tls.verify ? undefined : new https.Agent({ ...material, rejectUnauthorized: false });
  return guardReadOnly(new Docker({ host: endpoint.host, port: endpoint.port, protocol: 'https', ...material, ...(agent ? { agent } : {}), ...common } as Docker.DockerOptions));
}

export class DockerConnection extends EventEmitter {
  /** Guarded client speaking the negotiated API version. Replaced on each (re)connection. */
  docker: Docker;
  info: DaemonInfo | undefined;
  private state: State = 'connecting';
  private lastError: string | undefined;
  private upWaiters: (() => void)[] = [];
  private monitor: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private wakeMonitor: (() => void) | undefined;
  readonly description: string;

  constructor(
    readonly endpoint: DockerEndpoint,
    private readonly settings: ConnectionSettings,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
  ) {
    super();
    this.description = describeEndpoint(endpoint);
    // Requests made before negotiation use the unversioned path, which every daemon accepts.
    this.docker = createDockerode(endpoint);
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Starts connecting in the background; never throws for an unreachable daemon. */
  start(): void {
    this.monitor ??= this.superviseConnection();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.stopping.abort();
    this.wakeMonitor?.();
    this.releaseWaiters();
    await this.monitor;
  }

  health(): Health {
    if (this.state === 'up') return { healthy: true };
    return { healthy: false, reason: `docker daemon ${this.description} ${this.state}${this.lastError ? `: ${this.lastError}` : ''}` };
  }

  status(): Record<string, unknown> {
    return {
      endpoint: this.description,
      source: this.endpoint.source,
      state: this.state,
      api_version: this.info?.apiVersion,
      daemon_version: this.info?.version,
      host_name: this.info?.hostName,
      ...(this.lastError ? { last_error: this.lastError } : {}),
    };
  }

  /** Resolves once the daemon answers (at once if it does), or when `signal` aborts or the connection stops. */
  waitUntilUp(signal?: AbortSignal): Promise<void> {
    if (this.state === 'up' || this.state === 'stopped' || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.upWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * A collector saw the daemon fail (stream ended with an error, request refused). The connection
   * goes down and the supervisor probes with backoff until the daemon answers again.
   */
  reportFailure(error: unknown): void {
    if (this.state === 'stopped') return;
    const message = describeDockerError(error);
    if (this.state === 'up') {
      this.logger.warn({ endpoint: this.description, err: message }, 'docker daemon unreachable; reconnecting');
      this.state = 'down';
      this.emit('down');
    }
    this.lastError = message;
    this.wakeMonitor?.();
  }

  private async superviseConnection(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.settings.reconnectInitialMs, maxMs: this.settings.reconnectMaxMs });
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      if (this.state === 'up') {
        // Probe now and then while up, so /readyz notices an idle daemon going away.
        await this.idle(5000);
        if (signal.aborted) break;
        if (this.state === 'up' && !(await this.ping())) continue;
        if (this.state === 'up') continue;
      }
      try {
        await this.negotiate();
        const wasDown = this.state === 'down';
        this.state = 'up';
        this.lastError = undefined;
        backoff.reset();
        this.logger.info({ endpoint: this.description, apiVersion: this.info?.apiVersion, daemon: this.info?.version }, wasDown ? 'docker daemon reachable again' : 'connected to docker daemon');
        if (wasDown) this.metrics.reconnects.inc({ component: 'docker' });
        this.emit('up');
        this.releaseWaiters();
      } catch (error) {
        if (signal.aborted) break;
        const message = describeDockerError(error);
        if (this.state === 'connecting' && this.lastError !== message) this.logger.warn({ endpoint: this.description, err: message }, 'docker daemon not reachable; retrying');
        if (this.state !== 'connecting') this.state = 'down';
        this.lastError = message;
        this.metrics.errors.inc({ component: 'docker', kind: 'connect' });
        await sleep(backoff.nextDelayMs(), signal);
      }
    }
  }

  private async ping(): Promise<boolean> {
    try {
      await this.docker.ping();
      return true;
    } catch (error) {
      this.reportFailure(error);
      return false;
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeMonitor = done;
    });
  }

  private async negotiate(): Promise<void> {
    const probe = createDockerode(this.endpoint, this.settings.requestTimeoutMs);
    const version = (await probe.version()) as unknown as { ApiVersion: string; Version: string; Os: string; KernelVersion: string };
    const apiVersion = compareApiVersions(version.ApiVersion, MAX_API_VERSION) > 0 ? MAX_API_VERSION : version.ApiVersion;
    if (compareApiVersions(apiVersion, MIN_API_VERSION) < 0) throw new Error(`docker daemon speaks API ${version.ApiVersion}; dockhand needs at least ${MIN_API_VERSION}`);
    const docker = createDockerode(this.endpoint, undefined, apiVersion);
    const info = (await docker.info()) as { Name?: string; Driver?: string; CgroupDriver?: string; CgroupVersion?: string; DockerRootDir?: string; OperatingSystem?: string };
    this.docker = docker;
    this.info = {
      apiVersion,
      version: version.Version,
      os: info.OperatingSystem ?? version.Os,
      kernel: version.KernelVersion,
      hostName: info.Name ?? 'unknown',
      storageDriver: info.Driver ?? 'unknown',
      cgroupDriver: info.CgroupDriver ?? 'unknown',
      cgroupVersion: info.CgroupVersion ?? '1',
      dockerRootDir: info.DockerRootDir ?? '/var/lib/docker',
    };
  }

  private releaseWaiters(): void {
    for (const resolve of this.upWaiters.splice(0)) resolve();
  }
}

/** Turns socket and TLS errors into a sentence a person can act on. */
export function describeDockerError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = errorMessage(error);
  switch (code) {
    case 'ENOENT': return `no Docker socket there (${message})`;
    case 'EACCES': return `permission denied on the Docker socket: run as root or in the socket's group (${message})`;
    case 'ECONNREFUSED': return `connection refused (${message})`;
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `TLS: the daemon's certificate is not signed by the configured CA (ca.pem): ${message}`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID': return `TLS: the daemon's certificate does not name this host: ${message}`;
    default: return code ? `${code}: ${message}` : message;
  }
}
