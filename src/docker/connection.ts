/**
 * The one connection to the Docker daemon: a read-only client (client.ts), API version
 * negotiation, and up/down tracking with capped exponential backoff. Collectors report
 * failures here and wait for `waitUntilUp`; /readyz reads `health()`.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';
import type { Health } from '../component.js';
import { ReadOnlyViolation, errorMessage } from '../errors.js';
import { DockerClient } from './client.js';
import { Backoff, sleep } from '../util/backoff.js';
import { describeEndpoint, type DockerEndpoint } from './endpoint.js';

/** The newest Engine API this agent was written against; older daemons are spoken to in their own version. */
export const MAX_API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

export interface ConnectionSettings {
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly requestTimeoutMs: number;
  /** How often an idle, connected daemon is pinged so that /readyz notices it going away. Default 5000. */
  readonly healthCheckIntervalMs?: number;
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

/** The setting named when a plain request gets no answer in time. */
const TIMEOUT_SETTING = 'docker.request_timeout_ms';

/** Emitted as 'retry' before each wait between failed connection attempts. */
export interface RetryEvent {
  /** 1 for the first retry after a failure. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

export class DockerConnection extends EventEmitter {
  /** Read-only client speaking the negotiated API version, no timeout (streams). Replaced on each (re)connection. */
  docker: DockerClient;
  info: DaemonInfo | undefined;
  private state: State = 'connecting';
  private lastError: string | undefined;
  private failedAttempts = 0;
  /** Client with the request timeout, for health probes: a hung daemon must not hang them. */
  private probe: DockerClient;
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
    this.docker = new DockerClient(endpoint);
    this.probe = this.docker.withOptions({ timeoutMs: settings.requestTimeoutMs, timeoutSetting: TIMEOUT_SETTING });
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
    const state = this.state === 'connecting' ? 'not connected yet' : this.state;
    return { healthy: false, reason: `docker daemon ${this.description} ${state}${this.lastError ? `: ${this.lastError}` : ''}` };
  }

  status(): Record<string, unknown> {
    return {
      endpoint: this.description,
      source: this.endpoint.source,
      state: this.state,
      api_version: this.info?.apiVersion,
      daemon_version: this.info?.version,
      host_name: this.info?.hostName,
      ...(this.lastError ? { last_error: this.lastError, failed_attempts: this.failedAttempts } : {}),
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
    const message = describeDockerError(error, this.endpoint);
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
        await this.idle(this.settings.healthCheckIntervalMs ?? 5000);
        if (signal.aborted) break;
        if (this.state === 'up' && !(await this.ping())) continue;
        if (this.state === 'up') continue;
      }
      try {
        await this.negotiate();
        if (signal.aborted) break;
        const wasDown = this.state === 'down';
        this.state = 'up';
        this.lastError = undefined;
        this.failedAttempts = 0;
        backoff.reset();
        this.logger.info({ endpoint: this.description, apiVersion: this.info?.apiVersion, daemon: this.info?.version }, wasDown ? 'docker daemon reachable again' : 'connected to docker daemon');
        if (wasDown) this.metrics.reconnects.inc({ component: 'docker' });
        this.emit('up');
        this.releaseWaiters();
      } catch (error) {
        if (signal.aborted) break;
        const message = describeDockerError(error, this.endpoint);
        if (this.lastError !== message) this.logger.warn({ endpoint: this.description, err: message }, 'docker daemon not reachable; retrying');
        if (this.state !== 'connecting') this.state = 'down';
        this.lastError = message;
        this.failedAttempts++;
        this.metrics.errors.inc({ component: 'docker', kind: 'connect' });
        const delayMs = backoff.nextDelayMs();
        this.emit('retry', { attempt: this.failedAttempts, delayMs, reason: message } satisfies RetryEvent);
        await sleep(delayMs, signal);
      }
    }
  }

  private async ping(): Promise<boolean> {
    try {
      await this.probe.ping();
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
    const timeout = { timeoutMs: this.settings.requestTimeoutMs, timeoutSetting: TIMEOUT_SETTING };
    const version = await this.docker.withOptions(timeout).version() as { ApiVersion?: unknown; Version?: string; Os?: string; KernelVersion?: string };
    if (typeof version?.ApiVersion !== 'string' || !/^\d+\.\d+$/.test(version.ApiVersion)) {
      throw new Error(`${this.description} answered /version without an API version: not a Docker daemon?`);
    }
    const apiVersion = compareApiVersions(version.ApiVersion, MAX_API_VERSION) > 0 ? MAX_API_VERSION : version.ApiVersion;
    if (compareApiVersions(apiVersion, MIN_API_VERSION) < 0) throw new Error(`docker daemon speaks API ${version.ApiVersion}; dockhand needs at least ${MIN_API_VERSION}`);
    const probe = this.docker.withOptions({ ...timeout, apiVersion });
    const info = await probe.info() as { Name?: string; Driver?: string; CgroupDriver?: string; CgroupVersion?: string; DockerRootDir?: string; OperatingSystem?: string };
    this.probe = probe;
    this.docker = this.docker.withOptions({ apiVersion });
    this.info = {
      apiVersion,
      version: version.Version ?? 'unknown',
      os: info.OperatingSystem ?? version.Os ?? 'unknown',
      kernel: version.KernelVersion ?? 'unknown',
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

/** Turns socket, HTTP and TLS errors into a sentence a person can act on. `endpoint` adds where the certificates came from. */
export function describeDockerError(error: unknown, endpoint?: DockerEndpoint): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const statusCode = (error as { statusCode?: number } | undefined)?.statusCode;
  const message = errorMessage(error).trim();
  const tlsDir = endpoint?.kind === 'tcp' ? endpoint.tls?.dir : undefined;
  const caFile = tlsDir ? `${tlsDir}/ca.pem` : 'ca.pem';
  const clientFiles = tlsDir ? `${tlsDir}/cert.pem and key.pem` : 'cert.pem and key.pem';
  if (error instanceof ReadOnlyViolation) return message;
  if (statusCode === 400 && /HTTP request to an HTTPS server/i.test(message)) {
    return `the daemon speaks TLS on this port but the client does not: set docker.tls_verify (DOCKER_TLS_VERIFY=1) and docker.cert_path (DOCKER_CERT_PATH) (${message})`;
  }
  switch (code) {
    case 'ENOENT': return `no Docker socket there (${message})`;
    case 'EACCES': return `permission denied on the Docker socket: run as root or in the socket's group (${message})`;
    case 'ECONNREFUSED': return `connection refused: is dockerd running and listening there? (${message})`;
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT': return `timed out (${message})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': return `host unreachable (${message})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return `cannot resolve the daemon's host name (${message})`;
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_SIGNATURE_FAILURE':
      return `TLS: the daemon's certificate is not signed by the configured CA (${caFile}): ${message}`;
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return `TLS: the daemon's certificate is not valid now: ${message}`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID': return `TLS: the daemon's certificate does not name this host: ${message}`;
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
    case 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED':
      return `TLS: the daemon rejected the client certificate (${clientFiles}): missing, or not signed by a CA the daemon trusts (${firstLine(message)})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'EPROTO':
      if (/wrong version number|packet length too long|http request/i.test(message)) {
        return `TLS handshake failed: the daemon does not speak TLS on this port; unset docker.tls_verify (DOCKER_TLS_VERIFY) (${firstLine(message)})`;
      }
      return `TLS handshake failed: ${firstLine(message)}`;
    default:
      if (code?.startsWith('ERR_SSL_') || code?.startsWith('ERR_TLS_')) return `TLS handshake failed: ${code}: ${firstLine(message)}`;
      return code ? `${code}: ${message}` : message;
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim();
}
