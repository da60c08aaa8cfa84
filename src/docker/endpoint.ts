/**
 * Resolves which Docker daemon to talk to, the way the docker CLI does:
 * DOCKER_HOST (+ DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), else DOCKER_CONTEXT, else the current
 * context of $DOCKER_CONFIG/config.json, else the local socket. Pure apart from reading files.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
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
  /** The directory the material was read from, for error messages. */
  readonly dir?: string;
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
    // As the CLI: TLS only when verification is asked for (DOCKER_TLS_VERIFY); a cert path alone is not enough.
    const tls = settings.tlsVerify ? certPathTls(settings.certPath ?? defaultCertPath(settings)) : undefined;
    return parseHost('docker.host', settings.host, tls, 'DOCKER_HOST');
  }
  const configDir = settings.configDir ?? path.join(os.homedir(), '.docker');
  const contextName = settings.context ?? currentContext(configDir);
  const origin = settings.context ? 'docker.context' : `docker.context (currentContext in ${path.join(configDir, 'config.json')})`;
  if (contextName && contextName !== 'default') return contextEndpoint(configDir, contextName, origin);
  return { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'default socket' };
}

function defaultCertPath(settings: EndpointSettings): string {
  return settings.configDir ?? path.join(os.homedir(), '.docker');
}

function parseHost(key: string, host: string, tls: TlsMaterial | undefined, source: string): DockerEndpoint {
  // The CLI reads a bare host:port as tcp://host:port.
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(host) ?? (/^[^/]*:\d+$/.test(host) ? [host, 'tcp', host] : null);
  if (!match) throw new ConfigError([`${key}: "${host}" is not a Docker host: expected unix:///path/to/docker.sock or tcp://host:port`]);
  const [, rawScheme, rest] = match as unknown as [string, string, string];
  const scheme = rawScheme.toLowerCase();
  if (scheme === 'unix') {
    if (rest === '') return { kind: 'unix', socketPath: DEFAULT_SOCKET, source };
    if (!rest.startsWith('/')) throw new ConfigError([`${key}: "${host}" must name an absolute socket path (unix:///var/run/docker.sock)`]);
    return { kind: 'unix', socketPath: rest, source };
  }
  if (scheme === 'tcp' || scheme === 'http' || scheme === 'https') {
    const hp = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?\/?$/.exec(rest) ?? /^([^:/[\]]*)(?::(\d+))?\/?$/.exec(rest);
    if (!hp) throw new ConfigError([`${key}: "${host}" is not a Docker host: expected tcp://host:port`]);
    // https:// says TLS even without DOCKER_TLS_VERIFY: verify against the system's CAs then.
    const effectiveTls = tls ?? (scheme === 'https' ? { verify: true } : undefined);
    const port = hp[2] ? Number(hp[2]) : effectiveTls ? 2376 : 2375;
    if (!(port > 0 && port < 65536)) throw new ConfigError([`${key}: "${host}" has an invalid port ${port}: expected 1-65535`]);
    return { kind: 'tcp', host: hp[1] || 'localhost', port, ...(effectiveTls ? { tls: effectiveTls } : {}), source };
  }
  throw new ConfigError([`${key}: "${host}" uses the unsupported scheme "${scheme}://": expected unix:// or tcp://`]);
}

/**
 * Reads ca.pem, cert.pem and key.pem from a DOCKER_CERT_PATH, as the CLI does with DOCKER_TLS_VERIFY:
 * ca.pem is required, cert.pem and key.pem come as a pair or not at all. Checked here, so a bad file
 * is a config error naming docker.cert_path rather than a handshake failure later.
 */
function certPathTls(dir: string): TlsMaterial {
  const material = readTlsFiles('docker.cert_path', dir, true);
  return { verify: true, dir, ...material };
}

function readTlsFiles(key: string, dir: string, caRequired: boolean): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const expected = 'expected a directory with ca.pem, cert.pem and key.pem';
  const read = (file: string, required: boolean): Buffer | undefined => {
    const full = path.join(dir, file);
    try {
      return readFileSync(full);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!required && code === 'ENOENT') return undefined;
      throw new ConfigError([`${key}: cannot read ${full}: ${code ?? (error as Error).message} (${expected})`]);
    }
  };
  const ca = read('ca.pem', caRequired);
  const cert = read('cert.pem', false);
  const keyPem = read('key.pem', false);
  if (ca) checkPem(key, path.join(dir, 'ca.pem'), () => new X509Certificate(ca), 'a PEM CA certificate');
  if (Boolean(cert) !== Boolean(keyPem)) {
    throw new ConfigError([`${key}: ${dir} has ${cert ? 'cert.pem but no key.pem' : 'key.pem but no cert.pem'} (${expected})`]);
  }
  if (cert && keyPem) {
    const certificate = checkPem(key, path.join(dir, 'cert.pem'), () => new X509Certificate(cert), 'a PEM client certificate');
    const privateKey = checkPem(key, path.join(dir, 'key.pem'), () => createPrivateKey(keyPem), 'an unencrypted PEM private key');
    if (!certificate.checkPrivateKey(privateKey)) throw new ConfigError([`${key}: ${path.join(dir, 'key.pem')} is not the private key of ${path.join(dir, 'cert.pem')}`]);
  }
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(keyPem ? { key: keyPem } : {}) };
}

function checkPem<T>(key: string, file: string, parse: () => T, expected: string): T {
  try {
    return parse();
  } catch (error) {
    throw new ConfigError([`${key}: ${file} is not ${expected}: ${(error as Error).message}`]);
  }
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

/** The CLI stores a context under sha256(name); other directories are only a fallback for hand-made stores. */
function contextEndpoint(configDir: string, name: string, origin: string): DockerEndpoint {
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
      if (dir !== hashed) continue;
      throw new ConfigError([`${origin}: ${file} is not valid JSON: ${(error as Error).message}`]);
    }
    if (meta.Name !== name) continue;
    const host = meta.Endpoints?.docker?.Host;
    if (!host) throw new ConfigError([`${origin}: context "${name}" (${file}) has no Endpoints.docker.Host`]);
    // As the CLI: TLS when the context stores TLS material or skips verification; without ca.pem the system's CAs apply.
    const tlsDir = path.join(configDir, 'contexts', 'tls', dir, 'docker');
    const skipVerify = meta.Endpoints?.docker?.SkipTLSVerify === true;
    const tls = existsSync(tlsDir) || skipVerify ? { verify: !skipVerify, ...(existsSync(tlsDir) ? { dir: tlsDir, ...readTlsFiles('docker.context', tlsDir, false) } : {}) } : undefined;
    return parseHost('docker.context', host, tls, `context ${name}`);
  }
  throw new ConfigError([`${origin}: no context named "${name}" (expected ${path.join(metaRoot, hashed, 'meta.json')})`]);
}
