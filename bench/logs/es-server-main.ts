/**
 * Child process: the Elasticsearch-compatible test server (test/helpers/es-server.ts) on a free port,
 * so that its own CPU is measured apart from the agent's. Prints `{"url": …}` once listening; counts
 * are read over its /_test/counters API; SIGTERM closes it.
 */
import { EsTestServer } from '../../test/helpers/es-server.js';

const server = await EsTestServer.start();
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
const close = () => {
  void server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', close);
process.on('SIGINT', close);
