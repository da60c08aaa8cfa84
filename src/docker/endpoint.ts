/**
 * Resolves which Docker daemon to talk to, the way the docker CLI does:
 * DOCKER_HOST (+ DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), else DOCKER_CONTEXT, else the current
 * context of $DOCKER_CONFIG/config.json, else the local socket. Pure apart from reading files.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** false only when verification is explicitly skipped. */
  readonly verify: boolean;
}

export type DockerEndpoint =
  | { readonly kind: 'unix'; readonly socketPath: string; readonly source: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly tls?: TlsMaterial; readonly source: string };

export interface EndpointSettings {
  /** docker.host (DOCKER_HOST) */
  readonly host?: string | undefined;
  /** docker.tls_verify (DOCKER_TLS_VERIFY) */
  readonly tlsVerify?: boolean | undefined;
  /** docker.cert_path (DOCKER_CERT_PATH) */
  readonly certPath?: string | undefined;
  /** docker.context (DOCKER_CONTEXT) */
  readonly context?: string | undefined;
  /** docker.config_dir (DOCKER_CONFIG) */
  readonly configDir?: string | undefined;
}

/** Describes an endpoint for logs and /status: never includes key material. */
export function describeEndpoint(endpoint: DockerEndpoint): string {
  if (endpoint.kind === 'unix') return `unix://${endpoint.socketPath}`;
  return `${endpoint.tls ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`;
}

export function resolveEndpoint(settings: EndpointSettings): DockerEndpoint {
  if (settings.host) {
    const tls = settings.tlsVerify || settings.certPath ? certPathTls('docker.cert_path', settings.certPath ?? defaultCertPath(settings), settings.tlsVerify ?? false) : undefined;
    return parseHost('docker.host', settings.host, tls, 'DOCKER_HOST');
  }
  const configDir = settings.configDir ?? path.join(os.homedir(), '.docker');
  const contextName = settings.context ?? currentContext(configDir);
  if (contextName && contextName !== 'default') return contextEndpoint(configDir, contextName);
  return { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'default socket' };
}

function defaultCertPath(settings: EndpointSettings): string {
  return settings.configDir ?? path.join(os.homedir(), '.docker');
}

function parseHost(key: string, host: string, tls: TlsMaterial | undefined, source: string): DockerEndpoint {
  const match = /^([a-z]+):\/\/(.*)$/.exec(host);
  if (!match) throw new ConfigError([`${key}: "${host}" is not a Docker host: expected unix:///path/to/docker.sock or tcp://host:port`]);
  const [, scheme, rest] = match as unknown as [string, string, string];
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw new ConfigError([`${key}: "${host}" must name an absolute socket path (unix:///var/run/docker.sock)`]);
    return { kind: 'unix', socketPath: rest, source };
  }
  if (scheme === 'tcp' || scheme === 'http' || scheme === 'https') {
    const hp = /^\[?([^\]]+?)\]?:(\d+)\/?$/.exec(rest) ?? /^([^:/]+)\/?$/.exec(rest);
    if (!hp) throw new ConfigError([`${key}: "${host}" must be tcp://host:port`]);
    const port = hp[2] ? Number(hp[2]) : tls ? 2376 : 2375;
    if (!(port > 0 && port < 65536)) throw new ConfigError([`${key}: "${host}" has an invalid port`]);
    return { kind: 'tcp', host: hp[1]!, port, ...(tls ? { tls } : {}), source };
  }
  throw new ConfigError([`${key}: "${host}" uses the unsupported scheme "${scheme}://": expected unix:// or tcp://`]);
}

function certPathTls(key: string, dir: string, verify: boolean): TlsMaterial {
  const read = (file: string, required: boolean): Buffer | undefined => {
    const full = path.join(dir, file);
    try {
      return readFileSync(full);
    } catch (error) {
      if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ConfigError([`${key}: cannot read ${full}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (expected a directory with ca.pem, cert.pem and key.pem)`]);
    }
  };
  const ca = read('ca.pem', verify);
  const cert = read('cert.pem', true);
  const keyPem = read('key.pem', true);
  return { verify, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(keyPem ? { key: keyPem } : {}) };
}

function currentContext(configDir: string): string | undefined {
  const file = path.join(configDir, 'config.json');
  if (!existsSync(file)) return undefined;
  try {
    const config = JSON.parse(readFileSync(file, 'utf8')) as { currentContext?: unknown };
    return typeof config.currentContext === 'string' && config.currentContext ? config.currentContext : undefined;
  } catch (error) {
    throw new ConfigError([`docker.config_dir: ${file} is not valid JSON: ${(error as Error).message}`]);
  }
}

interface ContextMeta {
  Name?: string;
  Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } };
}

function contextEndpoint(configDir: string, name: string): DockerEndpoint {
  const metaRoot = path.join(configDir, 'contexts', 'meta');
  const hashed = createHash('sha256').update(name).digest('hex');
  const candidates = [hashed, ...(existsSync(metaRoot) ? readdirSync(metaRoot) : []).filter((d) => d !== hashed)];
  for (const dir of candidates) {
    const file = path.join(metaRoot, dir, 'meta.json');
    if (!existsSync(file)) continue;
    let meta: ContextMeta;
    try {
      meta = JSON.parse(readFileSync(file, 'utf8')) as ContextMeta;
    } catch (error) {
      throw new ConfigError([`docker.context: ${file} is not valid JSON: ${(error as Error).message}`]);
    }
    if (meta.Name !== name) continue;
    const host = meta.Endpoints?.docker?.Host;
    if (!host) throw new ConfigError([`docker.context: context "${name}" (${file}) has no docker endpoint Host`]);
    const tlsDir = path.join(configDir, 'contexts', 'tls', dir, 'docker');
    const skipVerify = meta.Endpoints?.docker?.SkipTLSVerify === true;
    const tls = existsSync(tlsDir) ? certPathTls('docker.context', tlsDir, !skipVerify) : skipVerify ? { verify: false } : undefined;
    return parseHost('docker.context', host, tls, `context ${name}`);
  }
  throw new ConfigError([`docker.context: no context named "${name}" under ${metaRoot}`]);
}
