#!/usr/bin/env node
/**
 * Prints the scrypt hash of a password read from stdin (its first line), for a
 * server.auth.basic_users_file line `user:<hash>`:
 *
 *   printf '%s\n' "$PASSWORD" | node dist/src/server/hash-password.js
 *
 * Reading stdin keeps the password out of the process list and the shell history.
 */
import { hashPassword } from './password-hash.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

const password = await readStdin();
if (!password) {
  process.stderr.write('hash-password: give the password on stdin (one line)\n');
  process.exit(2);
}
process.stdout.write(`${await hashPassword(password)}\n`);
