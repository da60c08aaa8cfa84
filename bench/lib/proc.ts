/**
 * Process and machine figures from /proc: CPU seconds (utime+stime of /proc/<pid>/stat), peak RSS
 * (VmHWM of /proc/<pid>/status, the kernel's own high-water mark), machine-wide busy CPU (/proc/stat).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks: number | undefined;

/** USER_HZ, the unit of the times in /proc/<pid>/stat (100 on every Linux seen, but asked, not assumed). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime+stime of a live process, in seconds; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** Peak and current resident set size of a live process, in bytes. */
export function memory(pid: number): { peakRss: number; rss: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
}

/** Busy and total CPU seconds of the whole machine since boot (all cores together). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy / ticksPerSecond(), total: (busy + idle! + iowait!) / ticksPerSecond() };
}

/** The daemon's pid, to charge it its share of each measurement. */
export function dockerdPid(): number | undefined {
  for (const file of ['/var/run/docker.pid', '/run/docker.pid']) {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid > 0 && cpuSeconds(pid) !== undefined) return pid;
    } catch {
      // try the next place
    }
  }
  try {
    const pid = Number(execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows one process: CPU seconds and peak RSS, polled so that the last values seen before it
 * exits are kept (a process that is gone can no longer be asked).
 */
export class ProcessSampler {
  private timer: NodeJS.Timeout;
  private startCpu: number;
  lastCpu: number;
  peakRss = 0;

  constructor(readonly pid: number, intervalMs = 50) {
    this.startCpu = cpuSeconds(pid) ?? 0;
    this.lastCpu = this.startCpu;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const cpu = cpuSeconds(this.pid);
    if (cpu !== undefined) this.lastCpu = cpu;
    const mem = memory(this.pid);
    if (mem) this.peakRss = Math.max(this.peakRss, mem.peakRss, mem.rss);
  }

  /** CPU seconds used since the sampler started (the process's whole life when started at spawn). */
  get cpu(): number {
    return this.lastCpu - this.startCpu;
  }

  /** Takes a last sample and stops polling. */
  stop(): { cpu: number; peakRss: number } {
    this.sample();
    clearInterval(this.timer);
    return { cpu: this.cpu, peakRss: this.peakRss };
  }
}

/** CPU used over an interval by the machine, the daemon and nothing else in particular. */
export class MachineWindow {
  private readonly machineStart = machineCpu();
  private readonly daemonStart: number | undefined;

  constructor(private readonly daemonPid: number | undefined) {
    this.daemonStart = daemonPid ? cpuSeconds(daemonPid) : undefined;
  }

  /** busy: CPU seconds every process used (all cores); daemon: dockerd's share of it. */
  end(): { busy: number; daemon: number | undefined } {
    const machine = machineCpu();
    const daemonNow = this.daemonPid ? cpuSeconds(this.daemonPid) : undefined;
    return {
      busy: machine.busy - this.machineStart.busy,
      daemon: daemonNow !== undefined && this.daemonStart !== undefined ? daemonNow - this.daemonStart : undefined,
    };
  }
}
