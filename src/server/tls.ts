/**
 * TLS of the HTTP server: a certificate and key the server presents, optionally a client CA that
 * makes clients present certificates (mTLS). Read and checked at start (a bad file is a
 * configuration error naming its key, exit 2) and again whenever a file changes.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError } from '../errors.js';

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

export interface ServerTlsFiles {
  readonly cert_file?: string | undefined;
  readonly key_file?: string | undefined;
  readonly client_ca_file?: string | undefined;
  /** TLS 1.2 unless said otherwise, as Go's (and Prometheus') defaults. */
  readonly min_version?: (typeof TLS_VERSIONS)[number] | undefined;
}

export interface ServerTls {
  readonly sources: ServerTlsFiles;
  readonly files: readonly string[];
  readonly requireClientCert: boolean;
  /** The current PEM material, for https.createServer and setSecureContext. */
  readonly material: SecureContextOptions & { cert: Buffer; key: Buffer };
}

/** undefined when no TLS is configured; a ConfigError naming the key when a file is missing or wrong. */
export function loadServerTls(files: ServerTlsFiles): ServerTls | undefined {
  const { cert_file: certFile, key_file: keyFile, client_ca_file: caFile } = files;
  if (!certFile && !keyFile) {
    if (caFile) throw new ConfigError(['server.tls.client_ca_file: needs server.tls.cert_file and server.tls.key_file (client certificates are asked for over TLS only)']);
    return undefined;
  }
  if (!certFile || !keyFile) throw new ConfigError([`server.tls: ${certFile ? 'cert_file is set but key_file is not' : 'key_file is set but cert_file is not'} (set both, or neither for plain HTTP)`]);
  const cert = readPem('server.tls.cert_file', certFile);
  const key = readPem('server.tls.key_file', keyFile);
  const certificate = parse('server.tls.cert_file', certFile, () => new X509Certificate(cert), 'a PEM certificate');
  const privateKey = parse('server.tls.key_file', keyFile, () => createPrivateKey(key), 'an unencrypted PEM private key');
  if (!certificate.checkPrivateKey(privateKey)) throw new ConfigError([`server.tls.key_file: ${keyFile} is not the private key of ${certFile}`]);
  const ca = caFile ? readPem('server.tls.client_ca_file', caFile) : undefined;
  if (ca && caFile) parse('server.tls.client_ca_file', caFile, () => new X509Certificate(ca), 'a PEM CA certificate');
  const material = { cert, key, ...(ca ? { ca } : {}), minVersion: files.min_version ?? TLS_VERSIONS[0] };
  parse('server.tls', certFile, () => createSecureContext(material), 'a usable certificate and key');
  return { sources: files, files: [certFile, keyFile, ...(caFile ? [caFile] : [])], requireClientCert: ca !== undefined, material };
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError([`${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
}

function parse<T>(key: string, file: string, parser: () => T, expected: string): T {
  try {
    return parser();
  } catch (error) {
    throw new ConfigError([`${key}: ${file} is not ${expected} (${(error as Error).message})`]);
  }
}
