/** The shared Elasticsearch exporter expectations, against the in-process test server. */
import { EsTestServer } from '../helpers/es-server.js';
import { exporterSuite } from '../helpers/es-exporter-suite.js';

exporterSuite('test server', async () => {
  const server = await EsTestServer.start();
  return { url: server.url, config: {}, clientOptions: { node: server.url }, close: () => server.close() };
});

exporterSuite('test server speaking as Elasticsearch 8', async () => {
  const server = await EsTestServer.start({ version: '8.17.0' });
  return { url: server.url, config: {}, clientOptions: { node: server.url }, close: () => server.close() };
});
