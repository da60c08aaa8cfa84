import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestBridge {
  readonly name: string;
  readonly index: number;
  remove(): Promise<void>;
}

/**
 * Creates the first free bridge `<prefix><i>` (i < 10) with 172.31.<subnetBase − i>.1/24, for a
 * second dockerd (never `--bridge none`: that deletes docker0 under the shared daemon).
 * `ip link add` fails when the name exists, so it doubles as a lock between concurrent tests.
 */
export async function createTestBridge(prefix: string, subnetBase: number): Promise<TestBridge> {
  for (let index = 0; index < 10; index++) {
    const name = `${prefix}${index}`;
    try {
      await run('ip', ['link', 'add', name, 'type', 'bridge']);
    } catch {
      continue;
    }
    const remove = async () => { await run('ip', ['link', 'del', name]).catch(() => undefined); };
    try {
      await run('ip', ['addr', 'add', `172.31.${subnetBase - index}.1/24`, 'dev', name]);
      await run('ip', ['link', 'set', name, 'up']);
    } catch (error) {
      await remove();
      throw error;
    }
    return { name, index, remove };
  }
  throw new Error(`no free ${prefix}<N> bridge name (${prefix}0..${prefix}9 all exist: stale test bridges? \`ip link del ${prefix}N\`)`);
}
