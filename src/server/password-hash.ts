/**
 * Password hashes for basic auth: scrypt (node:crypto; Node has no bcrypt and dockhand adds no
 * native addon), written as a PHC string: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64, no
 * padding; passlib's `.` for `+` is accepted). ln is log2 of the cost N.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptHash {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** 2^15 × 8 × 128 bytes = 32 MiB and ~0.1 s a check: the cost is paid once per credential (cached). */
export const DEFAULT_COST = { ln: 15, r: 8, p: 1 } as const;
/** Bounds a hash line may ask for: below, too cheap to resist a stolen file; above, too much memory a check. */
const LN_RANGE = [12, 20] as const;
const MAX_MEMORY_BYTES = 1024 * 1024 * 1024;

const PHC = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/.]+)\$([A-Za-z0-9+/.]+)$/;

/** Parses a PHC scrypt string; throws a message without the hash itself when it is not one. */
export function parseScryptHash(text: string): ScryptHash {
  const match = PHC.exec(text);
  if (!match) throw new Error('not a $scrypt$ln=…,r=…,p=…$salt$hash string (make one with hash-password; bcrypt is not supported)');
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (ln < LN_RANGE[0] || ln > LN_RANGE[1]) throw new Error(`scrypt ln=${ln} is outside ${LN_RANGE[0]}-${LN_RANGE[1]}`);
  if (r < 1 || p < 1 || memoryOf(ln, r) * p > MAX_MEMORY_BYTES) throw new Error(`scrypt r=${r},p=${p} is out of range`);
  const salt = decode(match[4]!);
  const hash = decode(match[5]!);
  if (salt.length < 8 || hash.length < 16) throw new Error('scrypt salt or hash is too short');
  return { ln, r, p, salt, hash };
}

export async function hashPassword(password: string, cost: { ln: number; r: number; p: number } = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, { ...cost, salt, hash: Buffer.alloc(32) });
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${encode(salt)}$${encode(hash)}`;
}

/** Runs on libuv's thread pool: the event loop keeps serving while a check runs. */
export async function verifyPassword(password: string, expected: ScryptHash): Promise<boolean> {
  const actual = await derive(password, expected);
  return timingSafeEqual(actual, expected.hash);
}

function derive(password: string, params: ScryptHash): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), params.salt, params.hash.length, { N: 2 ** params.ln, r: params.r, p: params.p, maxmem: memoryOf(params.ln, params.r) * params.p + 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function memoryOf(ln: number, r: number): number {
  return 128 * r * 2 ** ln;
}

function decode(text: string): Buffer {
  return Buffer.from(text.replaceAll('.', '+'), 'base64');
}

function encode(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
