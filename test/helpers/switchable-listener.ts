/**
 * The listening side of a test server that a test can take down and bring back: while down,
 * connections are refused (ECONNREFUSED) and open ones are cut, as when a backend's process dies;
 * back up, it listens on the same port again. Shared by the Elasticsearch and Loki test servers.
 */
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export class SwitchableListener {
  private readonly sockets = new Set<Socket>();
  private listening = false;
  private closed = false;
  private boundPort = 0;

  constructor(private readonly server: http.Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Listens on 127.0.0.1 (`port` 0: a free one, kept for acceptConnections). */
  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as AddressInfo).port;
        this.listening = true;
        resolve();
      });
    });
  }

  /** Stops listening and cuts every open connection. */
  async refuseConnections(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Listens again on the same port after refuseConnections(). */
  async acceptConnections(): Promise<void> {
    if (this.listening || this.closed) return;
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        await this.listen(this.boundPort);
        return;
      } catch (error) {
        // The port may linger for a moment after close; anything else is a real problem.
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Down for good. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.refuseConnections();
    for (const socket of this.sockets) socket.destroy();
  }
}
