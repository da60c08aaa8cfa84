/**
 * Child process: reads `GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1` for every id given,
 * all at once, straight from the unix socket with node:http, parses the multiplexed frames and counts
 * the lines. The API ceiling without the CLI. Prints one JSON line with its counts and own CPU.
 * Usage: node api-reader.js <socket> <id>...
 */
import http from 'node:http';

interface Count { lines: number; bytes: number }

function readLogs(socketPath: string, id: string): Promise<Count> {
  return new Promise((resolve, reject) => {
    const request = http.get({ socketPath, path: `/containers/${id}/logs?stdout=1&stderr=1&timestamps=1` }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        return reject(new Error(`logs of ${id}: HTTP ${response.statusCode}`));
      }
      const count: Count = { lines: 0, bytes: 0 };
      let header = Buffer.alloc(0);
      let left = 0; // payload bytes still to come in the current frame
      let lastByte = 0;
      response.on('data', (chunk: Buffer) => {
        let at = 0;
        while (at < chunk.length) {
          if (left === 0) {
            const need = 8 - header.length;
            header = Buffer.concat([header, chunk.subarray(at, at + need)]);
            at += Math.min(need, chunk.length - at);
            if (header.length < 8) break;
            left = header.readUInt32BE(4);
            header = Buffer.alloc(0);
            continue;
          }
          const take = Math.min(left, chunk.length - at);
          lastByte = chunk[at + take - 1]!;
          count.bytes += take;
          left -= take;
          at += take;
          if (left === 0 && lastByte === 0x0a) count.lines++;
        }
      });
      response.on('end', () => resolve(count));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

const [socketPath, ...ids] = process.argv.slice(2);
if (!socketPath || ids.length === 0) {
  process.stderr.write('usage: api-reader <socket> <id>...\n');
  process.exit(2);
}
const counts = await Promise.all(ids.map((id) => readLogs(socketPath, id)));
const cpu = process.cpuUsage();
process.stdout.write(`${JSON.stringify({
  lines: counts.reduce((n, c) => n + c.lines, 0),
  bytes: counts.reduce((n, c) => n + c.bytes, 0),
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  peakRss: process.resourceUsage().maxRSS * 1024,
})}\n`);
