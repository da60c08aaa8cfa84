/**
 * A local Node.js base image for building the Dockerfile where no registry is reachable: the host's
 * own node binary with the libraries `ldd` names, npm (the build stages run `npm ci`), the CA
 * certificates, and busybox for /bin/sh and /usr/bin/env, put into a tar and `docker import`ed.
 * Idempotent: an existing tag is reused.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const NODE_MAJOR = process.versions.node.split('.')[0]!;
export const LOCAL_NODE_IMAGE = `dockhand-test/node:${NODE_MAJOR}`;
const BUSYBOX = '/bin/busybox';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function imageExists(tag: string): Promise<boolean> {
  try {
    await exec('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]);
    return true;
  } catch {
    return false;
  }
}

/** Imports the local base image unless `tag` exists already; returns the tag. */
export async function ensureLocalNodeImage(tag = LOCAL_NODE_IMAGE): Promise<string> {
  if (await imageExists(tag)) return tag;
  const root = mkdtempSync(path.join(os.tmpdir(), 'dockhand-base-'));
  try {
    await stageRootfs(root);
    await importRootfs(root, tag);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return tag;
}

async function stageRootfs(root: string): Promise<void> {
  const node = realpathSync(process.execPath);
  placeFile(root, node, '/usr/bin/node');
  for (const library of await sharedLibraries(node)) placeFile(root, library, library);

  const npmDir = npmPackageDir();
  cpSync(npmDir, path.join(root, 'usr/lib/node_modules/npm'), { recursive: true, dereference: true });
  mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(root, 'usr/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(root, 'usr/bin/npx'));

  // Symlinks into /usr/share/ca-certificates: copy what they point at.
  cpSync('/etc/ssl/certs', path.join(root, 'etc/ssl/certs'), { recursive: true, dereference: true });

  placeFile(root, BUSYBOX, '/bin/busybox');
  const { stdout } = await exec(BUSYBOX, ['--list']);
  for (const applet of stdout.split('\n').map((a) => a.trim()).filter((a) => a && a !== 'busybox')) {
    symlinkSync('busybox', path.join(root, 'bin', applet));
  }
  symlinkSync('/bin/busybox', path.join(root, 'usr/bin/env'));

  // A host behind a TLS-inspecting proxy trusts its CA through NODE_EXTRA_CA_CERTS or npm's global
  // npmrc (cafile=…): npm in the build must too. The image's node is /usr/bin/node, so npm's
  // global config is /usr/etc/npmrc there.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  if (extraCa) placeFile(root, extraCa, extraCa, 0o644);
  const globalNpmrc = path.join(path.dirname(path.dirname(node)), 'etc', 'npmrc');
  if (existsSync(globalNpmrc)) {
    const text = readFileSync(globalNpmrc, 'utf8');
    placeFile(root, globalNpmrc, '/usr/etc/npmrc', 0o644);
    for (const match of text.matchAll(/^\s*cafile\s*=\s*"?([^"\n]+?)"?\s*$/gm)) {
      if (existsSync(match[1]!)) placeFile(root, match[1]!, match[1]!, 0o644);
    }
  }

  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
  mkdirSync(path.join(root, 'root'), { mode: 0o700 });
  mkdirSync(path.join(root, 'tmp'));
  chmodSync(path.join(root, 'tmp'), 0o1777);
}

/** Copies `source` (symlinks followed) to `target` inside the staged root, keeping the mode. */
function placeFile(root: string, source: string, target: string, mode = 0o755): void {
  const destination = path.join(root, target);
  mkdirSync(path.dirname(destination), { recursive: true });
  copyFileSync(realpathSync(source), destination);
  chmodSync(destination, mode);
}

/** Absolute paths of the shared libraries (and the loader) a binary needs, from `ldd`. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await exec('ldd', [binary]);
  const libraries = new Set<string>();
  for (const line of stdout.split('\n')) {
    const linked = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (linked) libraries.add(linked[1]!);
  }
  return [...libraries];
}

/** npm's package folder, found from the `npm` on PATH (…/node_modules/npm/bin/npm-cli.js). */
function npmPackageDir(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      const cli = realpathSync(path.join(dir, 'npm'));
      return path.dirname(path.dirname(cli));
    } catch {
      // not in this PATH entry
    }
  }
  throw new Error('npm not found on PATH: the local base image needs it for `npm ci` in the build');
}

function importRootfs(root: string, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', root, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const changes = [`ENV PATH=${PATH_ENV}`, 'CMD ["node"]'];
    if (process.env.NODE_EXTRA_CA_CERTS) changes.push(`ENV NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}`);
    const importer = spawn('docker', ['import', ...changes.flatMap((c) => ['-c', c]), '-', tag], { stdio: ['pipe', 'pipe', 'pipe'] });
    tar.stdout.pipe(importer.stdin);
    let errors = '';
    tar.stderr.on('data', (c: Buffer) => { errors += c.toString(); });
    importer.stderr.on('data', (c: Buffer) => { errors += c.toString(); });
    tar.on('error', reject);
    importer.on('error', reject);
    importer.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker import ${tag} failed (${code}): ${errors.trim()}`))));
  });
}
