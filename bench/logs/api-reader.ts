/**
 * Child process: reads `GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1` for every id given,
 * all at once, straight from the unix socket with node:http, parses the multiplexed frames and counts
 * the lines. The API ceiling without the CLI. Prints one JSON line with its counts and own CPU.
 *
 * `--follow` adds `follow=1`: the live ceiling. The containers are not started yet: the reader
 * subscribes to their start events, prints `{"ready":true}`, and follows each container as soon as
 * its start event arrives (as the agent learns of them). dockerd 20.10 may end a follow stream when the
 * container exits before it has sent everything, so, as the agent must, an ended follow stream is
 * followed at once by a drain read (`since=` the last line's timestamp, lines up to that timestamp
 * skipped). The JSON then gives when the first and the last line arrived (ms since the epoch) and how
 * many lines the drain reads brought.
 * Usage: node api-reader.js [--follow] <socket> <id>...
 */
import http from 'node:http';

interface Count { lines: number; bytes: number; drained: number }

let firstLineAt: number | undefined;
let lastLineAt: number | undefined;

/** RFC 3339 with nanoseconds (as the daemon writes them) → nanoseconds since the epoch. */
function nanos(timestamp: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(timestamp);
  if (!m) return -1n;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** `since=` value for a nanosecond time: seconds with a 9-digit fraction. */
function sinceParam(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/**
 * Reads one logs response, counting the lines. Each frame's payload starts with its timestamp; the
 * last one is kept (for the drain read), and frames at or before `skipThrough` are not counted.
 */
function readLogs(socketPath: string, id: string, query: string, count: Count, skipThrough: bigint): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const request = http.get({ socketPath, path: `/containers/${id}/logs?stdout=1&stderr=1&timestamps=1${query}` }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        return reject(new Error(`logs of ${id}: HTTP ${response.statusCode}`));
      }
      let header = Buffer.alloc(0);
      let left = 0; // payload bytes still to come in the current frame
      let prefix = ''; // the current frame's first bytes, until its timestamp is complete
      let prefixDone = true;
      let counted = true; // whether the current frame counts (not at or before skipThrough)
      let lastTs = skipThrough;
      let lastByte = 0;
      response.on('data', (chunk: Buffer) => {
        const linesBefore = count.lines;
        let at = 0;
        while (at < chunk.length) {
          if (left === 0) {
            const need = 8 - header.length;
            header = Buffer.concat([header, chunk.subarray(at, at + need)]);
            at += Math.min(need, chunk.length - at);
            if (header.length < 8) break;
            left = header.readUInt32BE(4);
            header = Buffer.alloc(0);
            prefix = '';
            prefixDone = false;
            continue;
          }
          const take = Math.min(left, chunk.length - at);
          if (!prefixDone) {
            prefix += chunk.toString('latin1', at, at + Math.min(take, 40));
            const space = prefix.indexOf(' ');
            if (space >= 0 || prefix.length >= 40) {
              prefixDone = true;
              const ts = nanos(prefix.slice(0, space >= 0 ? space : 0));
              counted = ts > skipThrough;
              if (ts > lastTs) lastTs = ts;
            }
          }
          lastByte = chunk[at + take - 1]!;
          if (counted) count.bytes += take;
          left -= take;
          at += take;
          if (left === 0 && lastByte === 0x0a && counted) count.lines++;
        }
        if (count.lines > linesBefore) {
          lastLineAt = Date.now();
          firstLineAt ??= lastLineAt;
        }
      });
      response.on('end', () => resolve(lastTs));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function read(socketPath: string, id: string, follow: boolean): Promise<Count> {
  const count: Count = { lines: 0, bytes: 0, drained: 0 };
  const last = await readLogs(socketPath, id, follow ? '&follow=1' : '', count, -1n);
  if (follow) {
    const before = count.lines;
    await readLogs(socketPath, id, last >= 0n ? `&since=${sinceParam(last)}` : '', count, last);
    count.drained = count.lines - before;
  }
  return count;
}

const args = process.argv.slice(2);
const follow = args[0] === '--follow';
const [socketPath, ...ids] = follow ? args.slice(1) : args;
if (!socketPath || ids.length === 0) {
  process.stderr.write('usage: api-reader [--follow] <socket> <id>...\n');
  process.exit(2);
}
/** Resolves with each container's count, following each from its start event (subscribed before `ready`). */
function followFromStart(socket: string, containers: readonly string[]): Promise<Count[]> {
  return new Promise((resolve, reject) => {
    const filters = JSON.stringify({ type: ['container'], event: ['start'], container: containers });
    const reads = new Map<string, Promise<Count>>();
    const request = http.get({ socketPath: socket, path: `/events?filters=${encodeURIComponent(filters)}` }, (response) => {
      if (response.statusCode !== 200) return reject(new Error(`events: HTTP ${response.statusCode}`));
      process.stdout.write('{"ready":true}\n');
      let buffered = '';
      response.setEncoding('utf8').on('data', (text: string) => {
        buffered += text;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const event = JSON.parse(buffered.slice(0, newline)) as { id?: string; Actor?: { ID?: string } };
          buffered = buffered.slice(newline + 1);
          const id = event.Actor?.ID ?? event.id;
          if (!id || reads.has(id) || !containers.includes(id)) continue;
          reads.set(id, read(socket, id, true));
          if (reads.size === containers.length) {
            request.destroy();
            Promise.all(containers.map((c) => reads.get(c)!)).then(resolve, reject);
          }
        }
      });
    });
    request.on('error', (error) => { if (reads.size < containers.length) reject(error); });
  });
}

const counts = follow ? await followFromStart(socketPath, ids) : await Promise.all(ids.map((id) => read(socketPath, id, false)));
const cpu = process.cpuUsage();
process.stdout.write(`${JSON.stringify({
  lines: counts.reduce((n, c) => n + c.lines, 0),
  bytes: counts.reduce((n, c) => n + c.bytes, 0),
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  peakRss: process.resourceUsage().maxRSS * 1024,
  ...(follow ? { drained: counts.reduce((n, c) => n + c.drained, 0) } : {}),
  ...(firstLineAt !== undefined ? { firstLineAt, lastLineAt } : {}),
})}\n`);
