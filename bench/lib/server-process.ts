/**
 * The tail of a test server run as its own process (bench/logs/*-server-main.ts): its control port
 * listening on a free port, `{"url": …, "control": …}` printed for the parent, and SIGTERM / SIGINT
 * closing both and exiting.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

export async function serveUntilSignalled(server: { readonly url: string; close(): Promise<void> }, control: http.Server): Promise<void> {
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ url: server.url, control: `http://127.0.0.1:${(control.address() as AddressInfo).port}` })}\n`);
  const close = () => {
    control.close();
    void server.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
}
