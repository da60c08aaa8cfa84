/**
 * A test server's listener that can go away and come back on the same port: `refuse()` closes it
 * and every open connection (new connections are refused, as a server that is down), `accept()`
 * listens again. Shared by the test servers (Elasticsearch, OTLP, Loki).
 */
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export class RefusableListener {
  private readonly sockets = new Set<Socket>();
  private listening = false;
  private port = 0;

  constructor(private readonly server: http.Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on 127.0.0.1, on a free port the first time, on the same port afterwards. */
  async accept(): Promise<void> {
    if (this.listening) return;
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        await this.listen();
        return;
      } catch (error) {
        // The port may linger for a moment after close; anything else is a real problem.
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Closes the listener and every open connection: new connections are refused (ECONNREFUSED). */
  async refuse(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', onError);
        this.port = (this.server.address() as AddressInfo).port;
        this.listening = true;
        resolve();
      });
    });
  }
}
