/**
 * The cAdvisor families dockhand added for parity, on the real daemon: a container started with a
 * memory limit, a reservation, a swap limit and CPU shares, with 3 MiB written into its writable
 * layer, sampled by the built agent (cgroup source, then API source); each value on /metrics is
 * compared with what the kernel's cgroup files, the daemon and the host say about that container,
 * and `promtool check metrics` has nothing to say about the new families.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContainers, docker } from '../helpers/containers.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { promtoolCheckMetrics } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';
import { detectCgroupLayout, resolveContainerCgroup, type CgroupLayout } from '../../collectors/stats/cgroup-paths.js';

const INTERVAL_MS = 1000;
const MiB = 1024 * 1024;
const NEW_FAMILIES = [
  'container_memory_swap', 'container_memory_max_usage_bytes', 'container_memory_failures_total',
  'container_spec_cpu_shares', 'container_spec_memory_reservation_limit_bytes', 'container_spec_memory_swap_limit_bytes',
  'container_fs_usage_bytes', 'container_fs_limit_bytes', 'machine_cpu_cores', 'machine_memory_bytes',
];

/** The value of `metric`'s series whose labels include every fragment, or undefined. */
function valueIn(text: string, metric: string, ...fragments: string[]): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && fragments.every((f) => l.includes(f)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

function labelIn(text: string, metric: string, label: string, fragment: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(fragment));
  return line ? new RegExp(`[{,]${label}="([^"]*)"`).exec(line)?.[1] : undefined;
}

const statOf = (text: string) => new Map(text.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k!, Number(v)]));

describe('cAdvisor parity on the real daemon', () => {
  const containers = new TestContainers();
  const name = containers.name('spec');
  let id = '';
  let layout: CgroupLayout;
  let cgroupDir: (controller: string) => string;
  let agent: AgentProcess | undefined;

  const file = (controller: string, name: string) => readFileSync(path.join(cgroupDir(controller), name), 'utf8').trim();

  before(async () => {
    const detected = await detectCgroupLayout('/sys/fs/cgroup');
    assert.ok(detected, 'this test needs the host cgroup tree');
    layout = detected;
    id = await containers.start(['sh', '-c', 'head -c 3m /dev/zero > /written && sleep 3600'], {
      name,
      flags: ['--memory', '96m', '--memory-reservation', '48m', '--memory-swap', '192m', '--cpu-shares', '512'],
    });
    const pid = Number(await docker('inspect', '-f', '{{.State.Pid}}', id));
    const cgroupPath = await resolveContainerCgroup(layout, id, pid, '/proc');
    assert.ok(cgroupPath, 'the container\'s cgroup is visible');
    cgroupDir = (controller) => (layout.version === 2 ? path.join(layout.root, cgroupPath) : path.join(layout.controllers[controller as 'memory'], cgroupPath));
    await waitFor(async () => Number(await docker('inspect', '--size', '-f', '{{.SizeRw}}', id)) >= 3 * MiB, { timeoutMs: 10_000, what: 'the 3 MiB write' });
  });

  after(async () => {
    await agent?.dispose();
    await containers.removeAll();
  });

  async function startAgent(source: 'cgroup' | 'api'): Promise<AgentProcess> {
    await agent?.dispose();
    agent = await AgentProcess.start({
      config: {
        labels: { allow: [containers.runLabel] },
        collectors: { stats: { interval_ms: INTERVAL_MS, source }, engine: { enabled: false } },
      },
    });
    await agent.waitReady();
    return agent;
  }

  /** The spec families against the cgroup files: v1 cpu.shares, soft limit, memsw; v2 cpu.weight (cAdvisor's conversion), memory.low, swap.max. */
  function expectedSpec() {
    if (layout.version === 1) {
      return {
        shares: Number(file('cpu', 'cpu.shares')),
        reservation: Number(file('memory', 'memory.soft_limit_in_bytes')),
        swapLimit: Number(file('memory', 'memory.memsw.limit_in_bytes')),
      };
    }
    const weight = Number(file('', 'cpu.weight'));
    return {
      shares: 2 + Math.floor(((weight - 1) * 262_142) / 9_999),
      reservation: Number(file('', 'memory.low')),
      swapLimit: Number(file('', 'memory.swap.max')),
    };
  }

  for (const source of ['cgroup', 'api'] as const) {
    test(`${source} source: spec families equal the container's cgroup files`, async () => {
      const running = await startAgent(source);
      const text = await waitFor(async () => {
        const t = await running.metrics();
        return valueIn(t, 'container_spec_cpu_shares', `name="${name}"`) !== undefined ? t : undefined;
      }, { timeoutMs: 30_000, what: 'the container\'s spec series' });
      const want = expectedSpec();
      if (layout.version === 1) {
        assert.equal(want.shares, 512);
        assert.equal(want.reservation, 48 * MiB);
        assert.equal(want.swapLimit, 192 * MiB);
      }
      assert.equal(valueIn(text, 'container_spec_cpu_shares', `name="${name}"`), want.shares);
      assert.equal(valueIn(text, 'container_spec_memory_reservation_limit_bytes', `name="${name}"`), want.reservation);
      assert.equal(valueIn(text, 'container_spec_memory_swap_limit_bytes', `name="${name}"`), want.swapLimit);
      assert.equal(valueIn(text, 'container_spec_memory_limit_bytes', `name="${name}"`), 96 * MiB);
    });
  }

  test('memory: swap, max usage and the four failure series equal the cgroup files (an idle container: they settle)', async () => {
    const running = await startAgent('cgroup');
    const files = () => {
      if (layout.version === 1) {
        const stat = statOf(file('memory', 'memory.stat'));
        return { swap: stat.get('total_swap') ?? 0, max: Number(file('memory', 'memory.max_usage_in_bytes')), pgfault: stat.get('pgfault')!, pgmajfault: stat.get('pgmajfault')!, hPgfault: stat.get('total_pgfault')!, hPgmajfault: stat.get('total_pgmajfault')! };
      }
      const stat = statOf(file('', 'memory.stat'));
      let peak: number | undefined;
      try { peak = Number(file('', 'memory.peak')); } catch { peak = undefined; }
      return { swap: Number(file('', 'memory.swap.current')), max: peak, pgfault: stat.get('pgfault')!, pgmajfault: stat.get('pgmajfault')!, hPgfault: stat.get('pgfault')!, hPgmajfault: stat.get('pgmajfault')! };
    };
    // The metric is at most one interval old: wait until a sample and the files agree on every figure.
    const seen = await waitFor(async () => {
      const text = await running.metrics();
      const f = files();
      const got = {
        swap: valueIn(text, 'container_memory_swap', `name="${name}"`),
        max: valueIn(text, 'container_memory_max_usage_bytes', `name="${name}"`),
        pgfault: valueIn(text, 'container_memory_failures_total', `name="${name}"`, 'failure_type="pgfault"', 'scope="container"'),
        pgmajfault: valueIn(text, 'container_memory_failures_total', `name="${name}"`, 'failure_type="pgmajfault"', 'scope="container"'),
        hPgfault: valueIn(text, 'container_memory_failures_total', `name="${name}"`, 'failure_type="pgfault"', 'scope="hierarchy"'),
        hPgmajfault: valueIn(text, 'container_memory_failures_total', `name="${name}"`, 'failure_type="pgmajfault"', 'scope="hierarchy"'),
      };
      return JSON.stringify(got) === JSON.stringify(f) ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'memory families equal to the cgroup files' });
    assert.ok((seen.pgfault ?? 0) > 0, 'the container faulted pages in');
    if (seen.max !== undefined) assert.ok(seen.max >= 3 * MiB, 'max usage covers the 3 MiB written (page cache)');
  });

  test('fs usage: the writable layer as the daemon sizes it (>= the 3 MiB written), limit = capacity of the filesystem under the Docker root, device = its mount source', async () => {
    const running = await startAgent('cgroup');
    const text = await waitFor(async () => {
      const t = await running.metrics();
      return valueIn(t, 'container_fs_usage_bytes', `name="${name}"`) !== undefined ? t : undefined;
    }, { timeoutMs: 30_000, what: 'container_fs_usage_bytes' });
    const usage = valueIn(text, 'container_fs_usage_bytes', `name="${name}"`)!;
    assert.equal(usage, Number(await docker('inspect', '--size', '-f', '{{.SizeRw}}', id)));
    assert.ok(usage >= 3 * MiB && usage < 4 * MiB, `usage ${usage}`);
    const dockerRoot = (await docker('info', '--format', '{{.DockerRootDir}}')) || '/var/lib/docker';
    const fs = statfsSync(dockerRoot);
    assert.equal(valueIn(text, 'container_fs_limit_bytes', `name="${name}"`), fs.bsize * fs.blocks);
    const source = await new Promise<string>((resolve, reject) => {
      import('node:child_process').then(({ execFile }) => execFile('df', ['--output=source', dockerRoot], (error, stdout) => (error ? reject(error) : resolve(stdout.trim().split('\n').pop()!.trim()))));
    });
    assert.equal(labelIn(text, 'container_fs_usage_bytes', 'device', `name="${name}"`), source);
    assert.equal(labelIn(text, 'container_fs_limit_bytes', 'device', `name="${name}"`), source);
    const status = (await running.get('/status')).json() as { collectors: { stats: { fs_usage: { measurements: number; last_duration_ms: number } } } };
    assert.ok(status.collectors.stats.fs_usage.measurements >= 1);
    assert.match(await running.metrics(), /^dockhand_stats_fs_usage_duration_seconds_count [1-9]/m);
  });

  test('machine_cpu_cores and machine_memory_bytes are the host\'s; every new family passes promtool', async () => {
    const running = await startAgent('cgroup');
    const text = await waitFor(async () => {
      const t = await running.metrics();
      return NEW_FAMILIES.every((f) => t.includes(`\n${f}{`)) ? t : undefined;
    }, { timeoutMs: 30_000, what: 'every new family with a sample' });
    const meminfo = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))!;
    assert.equal(valueIn(text, 'machine_cpu_cores', 'boot_id='), os.cpus().length);
    assert.equal(valueIn(text, 'machine_memory_bytes', 'boot_id='), Number(meminfo[1]) * 1024);
    assert.equal(valueIn(text, 'machine_memory_bytes', 'boot_id='), os.totalmem());
    assert.equal(labelIn(text, 'machine_cpu_cores', 'boot_id', 'boot_id='), readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    const result = await promtoolCheckMetrics(text);
    const ours = result.output.split('\n').filter((l) => /^(container_|machine_)/.test(l));
    assert.deepEqual(ours, [], result.output);
    assert.notEqual(result.code, 1, `promtool could not parse /metrics: ${result.output}`);
  });
});
