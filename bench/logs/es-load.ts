/**
 * Child process: the test server alone. Posts the bulk request the agent sent (its body, headers and
 * query string, taken from the server in the live run) straight to a fresh test server, each copy with
 * its own `_id`s so every document is a new create, `concurrency` requests in flight, as fast as the
 * server answers. The bodies are built (and gzipped, when the agent gzipped) before the clock starts.
 * Prints one JSON line: requests, documents sent, the first send and last answer (ms since the epoch),
 * statuses, and its own CPU.
 * Usage: node es-load.js <server url> <sample.json> <requests> <concurrency>
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { BulkSample } from './es-server-main.js';

const [url, sampleFile, requestsArg, concurrencyArg] = process.argv.slice(2);
if (!url || !sampleFile) {
  process.stderr.write('usage: es-load <server url> <sample.json> <requests> <concurrency>\n');
  process.exit(2);
}
const sample = JSON.parse(readFileSync(sampleFile, 'utf8')) as BulkSample;
const requests = Number(requestsArg ?? 300);
const concurrency = Number(concurrencyArg ?? 4);
const text = Buffer.from(sample.body, 'base64').toString('utf8');
const docsPerRequest = (text.match(/"_id":"/g) ?? []).length;
if (docsPerRequest === 0) throw new Error('the sample has no _id in its actions');

const bodies: Buffer[] = [];
for (let i = 0; i < requests; i++) {
  const copy = Buffer.from(text.replace(/"_id":"([^"]*)"/g, `"_id":"$1~${i}"`));
  bodies.push(sample.gzip ? gzipSync(copy) : copy);
}
const target = new URL(sample.url, url);
const headers: http.OutgoingHttpHeaders = {
  'content-type': sample.contentType,
  accept: sample.accept,
  ...(sample.acceptEncoding ? { 'accept-encoding': sample.acceptEncoding } : {}),
  ...(sample.gzip ? { 'content-encoding': 'gzip' } : {}),
};
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const statuses: Record<string, number> = {};

function post(body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(target, { method: 'POST', agent, headers: { ...headers, 'content-length': body.length } }, (response) => {
      statuses[response.statusCode ?? 0] = (statuses[response.statusCode ?? 0] ?? 0) + 1;
      response.resume();
      response.on('end', resolve);
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

process.stdout.write('start\n');
const cpuBefore = process.cpuUsage();
const startedAt = Date.now();
let next = 0;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < bodies.length) await post(bodies[next++]!);
}));
const endedAt = Date.now();
const cpu = process.cpuUsage(cpuBefore);
agent.destroy();
process.stdout.write(`${JSON.stringify({
  requests,
  docs: requests * docsPerRequest,
  docsPerRequest,
  bytesPerRequest: Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length),
  startedAt,
  endedAt,
  statuses,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
})}\n`);
