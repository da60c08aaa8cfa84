/**
 * Child process: the Elasticsearch-compatible test server (test/helpers/es-server.ts) on a free port,
 * so that its own CPU is measured apart from the agent's. Prints `{"url": …, "control": …}` once
 * listening. `control` is a side port answering `GET /count?index=<expression>` with the number of
 * documents stored there, read from the server's maps (the `_count` API scans every document, which
 * is too slow to poll at a million). SIGTERM closes both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EsTestServer } from '../../test/helpers/es-server.js';

const server = await EsTestServer.start();
const control = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://control');
  if (url.pathname === '/count') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ count: server.count(url.searchParams.get('index') ?? '*') }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ url: server.url, control: `http://127.0.0.1:${(control.address() as AddressInfo).port}` })}\n`);
const close = () => {
  control.close();
  void server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', close);
process.on('SIGINT', close);
