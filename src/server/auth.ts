/**
 * Authentication of the HTTP endpoints: basic auth against a file of `user:$scrypt$…` lines,
 * and/or a bearer token file. Secrets are compared in constant time, never logged, and re-read
 * when their files change (see file-watch.ts). A failed check answers 401 with the challenges.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseScryptHash, verifyPassword, type ScryptHash } from './password-hash.js';

export interface ServerAuthFiles {
  readonly basic_users_file?: string | undefined;
  readonly bearer_token_file?: string | undefined;
}

export type AuthOutcome =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'refused'; readonly reason: 'no credentials' | 'unsupported scheme' | 'wrong credentials' }
  /** Too many password checks already waiting: a flood of guesses, answered 429 without a check. */
  | { readonly kind: 'busy' };

interface Credentials {
  readonly users: ReadonlyMap<string, ScryptHash> | undefined;
  /** An unknown user is checked against this, so a wrong name costs as long as a wrong password. */
  readonly decoy: ScryptHash | undefined;
  /** SHA-256 of the token: equal lengths for timingSafeEqual whatever the client sends. */
  readonly tokenDigest: Buffer | undefined;
}

/** Password checks queued at most; a credential already accepted skips the queue. */
const MAX_WAITING_CHECKS = 8;

/** Accepted basic credentials remembered (by digest) so each scrape does not pay a scrypt run. */
const VERIFIED_CACHE_SIZE = 64;

export class Authenticator {
  private credentials: Credentials;
  private readonly verified = new Set<string>();
  /** One scrypt check at a time: each takes tens of MiB, and a flood of wrong guesses must not multiply that. */
  private checks: Promise<unknown> = Promise.resolve();
  private waitingChecks = 0;

  constructor(private readonly sources: ServerAuthFiles) {
    this.credentials = readCredentials(sources);
  }

  get files(): string[] {
    return [this.sources.basic_users_file, this.sources.bearer_token_file].filter((f): f is string => Boolean(f));
  }

  /** Re-reads the files; throws (keeping the current credentials) when they are not valid. */
  reload(): void {
    this.credentials = readCredentials(this.sources);
    this.verified.clear();
  }

  /** The WWW-Authenticate values of a 401. */
  challenges(): string[] {
    return [
      ...(this.credentials.users ? ['Basic realm="dockhand", charset="UTF-8"'] : []),
      ...(this.credentials.tokenDigest ? ['Bearer realm="dockhand"'] : []),
    ];
  }

  async check(authorization: string | undefined): Promise<AuthOutcome> {
    if (!authorization) return { kind: 'refused', reason: 'no credentials' };
    const space = authorization.indexOf(' ');
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : authorization.slice(space + 1).trim();
    const { users, tokenDigest } = this.credentials;
    if (scheme === 'bearer' && tokenDigest) return outcome(timingSafeEqual(sha256(value), tokenDigest));
    if (scheme === 'basic' && users) return this.checkBasic(value);
    return { kind: 'refused', reason: 'unsupported scheme' };
  }

  private async checkBasic(encoded: string): Promise<AuthOutcome> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return outcome(false);
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const cacheKey = sha256(`${user}\0${password}`).toString('hex');
    if (this.verified.has(cacheKey)) return outcome(true);
    if (this.waitingChecks >= MAX_WAITING_CHECKS) return { kind: 'busy' };
    const credentials = this.credentials;
    const { users, decoy } = credentials;
    const expected = users?.get(user);
    this.waitingChecks++;
    const run = this.checks.then(() => verifyPassword(password, expected ?? decoy!)).finally(() => this.waitingChecks--);
    this.checks = run.catch(() => undefined);
    // A check that cannot run (scrypt out of memory) refuses; it never answers 500 with the reason.
    const matches = (await run.catch(() => false)) && expected !== undefined;
    // Checked against files that were replaced meanwhile (reload): answered, but not remembered.
    if (matches && this.credentials === credentials) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
      this.verified.add(cacheKey);
    }
    return outcome(matches);
  }
}

/** undefined when neither file is configured: the endpoints are open (the default). */
export function loadAuthenticator(files: ServerAuthFiles): Authenticator | undefined {
  return files.basic_users_file || files.bearer_token_file ? new Authenticator(files) : undefined;
}

function outcome(accepted: boolean): AuthOutcome {
  return accepted ? { kind: 'accepted' } : { kind: 'refused', reason: 'wrong credentials' };
}

function readCredentials(files: ServerAuthFiles): Credentials {
  const users = files.basic_users_file ? readUsers(files.basic_users_file) : undefined;
  // An unknown user costs what the dearest known one does: no telling users apart by timing.
  const dearest = users ? [...users.values()].reduce<ScryptHash | undefined>((most, hash) => (!most || hash.ln > most.ln ? hash : most), undefined) : undefined;
  return {
    users,
    decoy: dearest ? { ...dearest, salt: randomBytes(dearest.salt.length), hash: randomBytes(dearest.hash.length) } : undefined,
    tokenDigest: files.bearer_token_file ? sha256(readToken(files.bearer_token_file)) : undefined,
  };
}

/** `user:hash` a line; blank lines and `#` comments skipped. Errors name the line, never its hash. */
function readUsers(file: string): Map<string, ScryptHash> {
  const key = 'server.auth.basic_users_file';
  const users = new Map<string, ScryptHash>();
  const lines = readSecretFile(key, file).split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const where = `${file} line ${index + 1}`;
    if (colon <= 0) throw new ConfigError([`${key}: ${where} is not user:hash`]);
    const user = line.slice(0, colon);
    if (users.has(user)) throw new ConfigError([`${key}: ${where}: user ${JSON.stringify(user)} is listed twice`]);
    try {
      users.set(user, parseScryptHash(line.slice(colon + 1).trim()));
    } catch (error) {
      throw new ConfigError([`${key}: ${where} (user ${JSON.stringify(user)}): ${(error as Error).message}`]);
    }
  });
  if (users.size === 0) throw new ConfigError([`${key}: ${file} lists no user (expected user:$scrypt$… lines)`]);
  return users;
}

function readToken(file: string): string {
  const token = readSecretFile('server.auth.bearer_token_file', file).trim();
  if (!token) throw new ConfigError([`server.auth.bearer_token_file: ${file} is empty`]);
  if (/\s/.test(token)) throw new ConfigError([`server.auth.bearer_token_file: ${file} holds more than one word (one token, optionally ending with a newline)`]);
  return token;
}

function readSecretFile(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
