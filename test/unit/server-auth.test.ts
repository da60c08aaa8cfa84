import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { Registry, Gauge } from 'prom-client';
import { buildHttpApp, type AgentView, type HttpAccess } from '../../src/server/index.js';
import { Authenticator, loadAuthenticator } from '../../src/server/auth.js';
import { hashPassword, parseScryptHash, verifyPassword } from '../../src/server/password-hash.js';
import { configProblem } from '../helpers/config-problem.js';

/** The cheapest cost the users file accepts: keeps the suite fast; the cost does not change the logic. */
const FAST = { ln: 12, r: 8, p: 1 };

function agentView(): AgentView {
  const own = new Registry();
  new Gauge({ name: 'dockhand_test_gauge', help: 'own', registers: [own] }).set(1);
  return {
    readiness: () => ({ ready: true, checks: {} }),
    status: () => ({ version: 'x' }),
    registries: () => [own],
    top: async () => ({ titles: ['PID'], processes: [] }),
  };
}

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'dockhand-auth-'));
}

/** An app whose only credential is the bearer token `abc123`, read from a file in `dir`. */
function tokenApp(dir: string, access: Omit<HttpAccess, 'auth'> = {}) {
  writeFileSync(path.join(dir, 'token'), 'abc123\n');
  return buildHttpApp(agentView(), { ...access, auth: loadAuthenticator({ bearer_token_file: path.join(dir, 'token') }) });
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function usersFile(dir: string, users: Record<string, string>, cost = FAST): Promise<string> {
  const file = path.join(dir, 'users');
  const lines = ['# dockhand users', ''];
  for (const [user, password] of Object.entries(users)) lines.push(`${user}:${await hashPassword(password, cost)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

test('hash-password round trip: the right password verifies, another does not; the string is a PHC scrypt string', async () => {
  const text = await hashPassword('correct horse', FAST);
  assert.match(text, /^\$scrypt\$ln=12,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  const parsed = parseScryptHash(text);
  assert.equal(await verifyPassword('correct horse', parsed), true);
  assert.equal(await verifyPassword('correct horsE', parsed), false);
  assert.notEqual(await hashPassword('correct horse', FAST), text, 'a fresh salt each time');
});

test('hash-password (the helper for the users file) reads the password from stdin and prints a hash that verifies it', async () => {
  const script = fileURLToPath(new URL('../../src/server/hash-password.js', import.meta.url));
  const run = (stdin: string) => new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = execFile(process.execPath, [script], (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout }));
    child.stdin!.end(stdin);
  });
  const { code, stdout } = await run('pass word\n');
  assert.equal(code, 0);
  const parsed = parseScryptHash(stdout.trim());
  assert.equal(parsed.ln, 15, 'the default cost');
  assert.equal(await verifyPassword('pass word', parsed), true);
  assert.equal((await run('')).code, 2, 'no password: exit 2');
});

test('basic auth: right password 200; wrong password, unknown user, wrong scheme, no header 401 with WWW-Authenticate', async () => {
  const dir = tempDir();
  try {
    const auth = loadAuthenticator({ basic_users_file: await usersFile(dir, { prometheus: 's3cret', other: 'x' }) });
    const app = buildHttpApp(agentView(), { auth });
    const get = (authorization?: string) => app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });

    const ok = await get(basic('prometheus', 's3cret'));
    assert.equal(ok.statusCode, 200);
    assert.match(ok.body, /^dockhand_test_gauge 1$/m);
    assert.equal((await get(basic('prometheus', 's3cret'))).statusCode, 200, 'again (from the verified cache)');

    for (const [what, header, reason] of [
      ['wrong password', basic('prometheus', 'S3cret'), 'wrong credentials'],
      ['another user\'s password', basic('other', 's3cret'), 'wrong credentials'],
      ['unknown user', basic('nobody', 's3cret'), 'wrong credentials'],
      ['no colon', `Basic ${Buffer.from('prometheus').toString('base64')}`, 'wrong credentials'],
      ['wrong scheme', 'Bearer s3cret', 'unsupported scheme'],
      ['no header', undefined, 'no credentials'],
    ] as const) {
      const response = await get(header);
      assert.equal(response.statusCode, 401, what);
      assert.equal(response.headers['www-authenticate'], 'Basic realm="dockhand", charset="UTF-8"', what);
      assert.equal(response.json().error, `authentication required: ${reason}`, what);
      assert.doesNotMatch(response.body, /dockhand_test_gauge/, what);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every endpoint but /healthz needs credentials, unknown paths included', async () => {
  const dir = tempDir();
  try {
    const app = tokenApp(dir, { statusTop: true });
    for (const method of ['GET', 'HEAD'] as const) assert.equal((await app.inject({ method, url: '/healthz' })).statusCode, 200, `${method} /healthz open`);
    for (const url of ['/metrics', '/readyz', '/status', '/status?top=web', '/nope', '/healthz/../metrics']) {
      assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401, url);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/status?top=web', headers: { authorization: 'Bearer abc123' } })).statusCode, 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('open_paths: the endpoints listed are served without credentials, the others still need them', async () => {
  const dir = tempDir();
  try {
    const app = tokenApp(dir, { openPaths: ['/healthz', '/readyz'] });
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
    const statusOpen = tokenApp(dir, { openPaths: ['/healthz', '/status'], statusTop: true });
    assert.equal((await statusOpen.inject({ method: 'GET', url: '/status' })).statusCode, 200, '/status listed: open');
    assert.equal((await statusOpen.inject({ method: 'GET', url: '/status?top=web' })).statusCode, 401, '/status?top never without credentials');
    assert.equal((await statusOpen.inject({ method: 'GET', url: '/status?top=web', headers: { authorization: 'Bearer abc123' } })).statusCode, 200);
    const closed = tokenApp(dir, { openPaths: [] });
    assert.equal((await closed.inject({ method: 'GET', url: '/healthz' })).statusCode, 401, 'no open path: /healthz needs credentials too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bearer token: the token (file ends with a newline) is accepted, case-insensitive scheme; other tokens, any length, are refused', async () => {
  const dir = tempDir();
  try {
    const app = tokenApp(dir);
    const get = (authorization: string) => app.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
    assert.equal((await get('Bearer abc123')).statusCode, 200);
    assert.equal((await get('bearer abc123')).statusCode, 200);
    for (const wrong of ['Bearer abc124', 'Bearer abc12', 'Bearer abc1234567890', 'Bearer ', 'Bearer', basic('abc123', 'abc123')]) {
      const response = await get(wrong);
      assert.equal(response.statusCode, 401, wrong);
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="dockhand"');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('both files: either scheme is accepted, and a 401 offers both challenges', async () => {
  const dir = tempDir();
  try {
    writeFileSync(path.join(dir, 'token'), 'tok');
    const app = buildHttpApp(agentView(), { auth: loadAuthenticator({ basic_users_file: await usersFile(dir, { u: 'p' }), bearer_token_file: path.join(dir, 'token') }) });
    assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer tok' } })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: basic('u', 'p') } })).statusCode, 200);
    const refused = await app.inject({ method: 'GET', url: '/metrics' });
    assert.deepEqual(refused.headers['www-authenticate'], ['Basic realm="dockhand", charset="UTF-8"', 'Bearer realm="dockhand"']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('timing: an unknown user costs a scrypt run like a wrong password does (no user enumeration by timing)', async () => {
  const dir = tempDir();
  try {
    const auth = new Authenticator({ basic_users_file: await usersFile(dir, { prometheus: 's3cret' }, { ln: 15, r: 8, p: 1 }) });
    const timed = async (header: string) => {
      const started = process.hrtime.bigint();
      assert.equal((await auth.check(header)).kind, 'refused');
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const wrongPassword = Math.min(await timed(basic('prometheus', 'nope')), await timed(basic('prometheus', 'nope2')));
    const unknownUser = Math.min(await timed(basic('nobody', 'nope')), await timed(basic('nobody2', 'nope')));
    // A lookup that skipped scrypt would answer in well under a millisecond; scrypt at ln=15 takes tens.
    assert.ok(wrongPassword > 5, `a wrong password ran scrypt (${wrongPassword} ms)`);
    assert.ok(unknownUser > wrongPassword * 0.3, `unknown user ${unknownUser} ms vs wrong password ${wrongPassword} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flood of password guesses: beyond 8 waiting checks the rest are answered 429 at once; an accepted credential skips the queue', async () => {
  const dir = tempDir();
  try {
    // The default cost (~0.1 s a check): the 20 guesses are all in before the first check ends.
    const app = buildHttpApp(agentView(), { auth: loadAuthenticator({ basic_users_file: await usersFile(dir, { prometheus: 's3cret' }, { ln: 15, r: 8, p: 1 }) }) });
    const get = (authorization: string) => app.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
    assert.equal((await get(basic('prometheus', 's3cret'))).statusCode, 200);
    const flood = await Promise.all(Array.from({ length: 20 }, (_, i) => get(basic('prometheus', `guess-${i}`))));
    const codes = flood.map((r) => r.statusCode);
    assert.equal(codes.filter((c) => c === 401).length, 8, codes.join(' '));
    assert.equal(codes.filter((c) => c === 429).length, 12, codes.join(' '));
    assert.equal(flood.find((r) => r.statusCode === 429)?.headers['retry-after'], '1');
    const [cached, queued] = await Promise.all([get(basic('prometheus', 's3cret')), get(basic('prometheus', 'again'))]);
    assert.equal(cached.statusCode, 200, 'the cached credential is served whatever waits');
    assert.equal(queued.statusCode, 401);
    assert.equal((await get(basic('prometheus', 'late'))).statusCode, 401, 'the queue drains: checks run again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('credential files re-read: a new password replaces the old one (the verified cache too); a broken file keeps the last good one', async () => {
  const dir = tempDir();
  try {
    const file = await usersFile(dir, { prometheus: 'old' });
    const auth = new Authenticator({ basic_users_file: file });
    assert.equal((await auth.check(basic('prometheus', 'old'))).kind, 'accepted');
    await usersFile(dir, { prometheus: 'new' });
    auth.reload();
    assert.equal((await auth.check(basic('prometheus', 'old'))).kind, 'refused');
    assert.equal((await auth.check(basic('prometheus', 'new'))).kind, 'accepted');
    writeFileSync(file, 'prometheus:$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n');
    assert.throws(() => auth.reload(), /bcrypt is not supported/);
    assert.equal((await auth.check(basic('prometheus', 'new'))).kind, 'accepted');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad credential files are configuration errors naming the key, the file and the line, never the secret', async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'users');
    const problem = (files: Parameters<typeof loadAuthenticator>[0]) => configProblem(() => loadAuthenticator(files));
    assert.match(problem({ basic_users_file: path.join(dir, 'missing') }), /^server\.auth\.basic_users_file: cannot read .*missing: ENOENT/);
    writeFileSync(file, '# nobody\n');
    assert.match(problem({ basic_users_file: file }), /lists no user/);
    writeFileSync(file, 'prometheus:plaintext-secret\n');
    const message = problem({ basic_users_file: file });
    assert.match(message, /line 1 \(user "prometheus"\): not a \$scrypt\$/);
    assert.doesNotMatch(message, /plaintext-secret/);
    writeFileSync(file, `a:${await hashPassword('x', FAST)}\na:${await hashPassword('y', FAST)}\n`);
    assert.match(problem({ basic_users_file: file }), /line 2: user "a" is listed twice/);
    writeFileSync(file, `a:${(await hashPassword('x', FAST)).replace('ln=12', 'ln=30')}\n`);
    assert.match(problem({ basic_users_file: file }), /ln=30 is outside/);
    writeFileSync(path.join(dir, 'token'), '\n');
    assert.match(problem({ bearer_token_file: path.join(dir, 'token') }), /^server\.auth\.bearer_token_file: .* is empty/);
    writeFileSync(path.join(dir, 'token'), 'two words\n');
    const twoWords = problem({ bearer_token_file: path.join(dir, 'token') });
    assert.match(twoWords, /more than one word/);
    assert.doesNotMatch(twoWords, /two words/);
    assert.equal(loadAuthenticator({}), undefined, 'no file: open endpoints');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
