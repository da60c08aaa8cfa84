/**
 * The shared Elasticsearch exporter expectations against a real cluster, opt-in:
 *   ELASTICSEARCH_TEST_URL=https://localhost:9200 ELASTICSEARCH_TEST_USERNAME=elastic ELASTICSEARCH_TEST_PASSWORD=… \
 *   ELASTICSEARCH_TEST_CA=/path/http_ca.crt node --test dist/test/unit/elasticsearch-cluster.test.js
 * (or ELASTICSEARCH_TEST_API_KEY; ELASTICSEARCH_TEST_TLS_VERIFY=false for a self-signed cluster without its CA).
 * Each test works under names of its own and deletes them afterwards, but it installs index templates
 * for the logs-docker.* patterns while it runs: use a disposable cluster.
 */
import { readFileSync } from 'node:fs';
import { exporterSuite } from '../helpers/es-exporter-suite.js';

const env = process.env;

exporterSuite('real cluster', async () => {
  const url = env.ELASTICSEARCH_TEST_URL;
  if (!url) return undefined;
  const ca = env.ELASTICSEARCH_TEST_CA ? readFileSync(env.ELASTICSEARCH_TEST_CA, 'utf8') : undefined;
  const tlsVerify = env.ELASTICSEARCH_TEST_TLS_VERIFY !== 'false';
  const apiKey = env.ELASTICSEARCH_TEST_API_KEY;
  const username = env.ELASTICSEARCH_TEST_USERNAME;
  const password = env.ELASTICSEARCH_TEST_PASSWORD ?? '';
  const auth = apiKey ? { apiKey } : username ? { username, password } : undefined;
  return {
    url,
    config: {
      ...(apiKey ? { api_key: apiKey } : {}),
      ...(username && !apiKey ? { username, password } : {}),
      ...(env.ELASTICSEARCH_TEST_CA ? { ca_file: env.ELASTICSEARCH_TEST_CA } : {}),
      tls_verify: tlsVerify,
    },
    clientOptions: { node: url, ...(auth ? { auth } : {}), tls: { ...(ca ? { ca } : {}), rejectUnauthorized: tlsVerify } },
    close: async () => {},
  };
});
