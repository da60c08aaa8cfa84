/**
 * The HTTP/1.1 response reader the log stream uses instead of node:http (src/docker/http-response.ts)
 * and the byte stream over it (src/docker/byte-stream.ts): every split of a response captured from
 * dockerd 20.10 across socket reads, chunk extensions and trailers, content-length bodies, error
 * answers with the daemon's message, a response cut short, backpressure and abort over a real socket.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ResponseParser, HttpProtocolError, type ResponseHead } from '../../src/docker/http-response.js';
import { DockerClient, DockerHttpError, type ByteStream } from '../../src/docker/client.js';
import { openByteStream } from '../../src/docker/byte-stream.js';
import { FrameDemuxer } from '../../collectors/logs/demux.js';
import { frame } from './logs-frames.js';

/** GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1 of `sh -c 'echo one; echo two >&2; printf "no newline"'`, as dockerd 20.10.24 sent it. */
const CAPTURED = Buffer.from(
  'SFRUUC8xLjEgMjAwIE9LDQpBcGktVmVyc2lvbjogMS40MQ0KRG9ja2VyLUV4cGVyaW1lbnRhbDogZmFsc2UNCk9zdHlwZTogbGludXgNClNlcnZlcjogRG9ja2VyLzIwLjEwLjI0K2Rmc2cxIChsaW51eCkNCkRhdGU6IE1vbiwgMzAgTm92IDIwMjYgMDE6MTk6MDIgR01UDQpDb25uZWN0aW9uOiBjbG9zZQ0KVHJhbnNmZXItRW5jb2Rpbmc6IGNodW5rZWQNCg0KMmINCgEAAAAAAAAjMjAyNi0xMS0zMFQwMToxOTowMi40NDY4NTQ1NzNaIG9uZQoNCjJiDQoCAAAAAAAAIzIwMjYtMTEtMzBUMDE6MTk6MDIuNDQ2OTYyMjAzWiB0d28KDQozMQ0KAQAAAAAAACkyMDI2LTExLTMwVDAxOjE5OjAyLjUwNDY3NTQxOVogbm8gbmV3bGluZQ0KMA0KDQo=',
  'base64',
);
const CAPTURED_FRAMES = [
  '1 2026-11-30T01:19:02.446854573Z one\n',
  '2 2026-11-30T01:19:02.446962203Z two\n',
  '1 2026-11-30T01:19:02.504675419Z no newline',
];
/** The 404 dockerd sends for logs of an unknown container. */
const NOT_FOUND = Buffer.from('HTTP/1.1 404 Not Found\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/20.10.24+dfsg1 (linux)\r\nDate: Mon, 30 Nov 2026 01:19:04 GMT\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{"message":"No such container: nosuch"}\n', 'latin1');

interface Parsed {
  head: ResponseHead | undefined;
  body: Buffer;
  /** How many body ranges were handed on. */
  ranges: number;
  ends: number;
  frames: string[];
}

/** Parses a response delivered as the given socket reads; with `frames`, the body also goes through the demuxer, range by range. */
function parse(reads: readonly Buffer[], options: { noBody?: boolean; frames?: boolean } = {}): Parsed & { closeError: Error | undefined; parser: ResponseParser } {
  const parsed: Parsed = { head: undefined, body: Buffer.alloc(0), ranges: 0, ends: 0, frames: [] };
  const demuxer = new FrameDemuxer();
  const parser = new ResponseParser({
    head: (head) => {
      parsed.head = { statusCode: head.statusCode, headers: new Map(head.headers) };
    },
    body: (buf, start, end) => {
      parsed.ranges++;
      parsed.body = Buffer.concat([parsed.body, buf.subarray(start, end)]);
      if (options.frames) demuxer.push(buf, { frame: (stream, b, s, e) => parsed.frames.push(`${stream} ${b.toString('utf8', s, e)}`) }, start, end);
    },
    end: () => {
      parsed.ends++;
    },
  }, options.noBody);
  for (const read of reads) {
    // push returns early at the head (a boundary): push the rest, as the byte stream does.
    let at = 0;
    while (at < read.length && !parser.complete) at = parser.push(read, at, read.length);
  }
  const closeError = parser.complete ? undefined : parser.close();
  return { ...parsed, closeError, parser };
}

function splitAt(buf: Buffer, ...points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(buf.subarray(from, p));
    from = p;
  }
  out.push(buf.subarray(from));
  return out;
}

function bodyOf(response: Buffer): Buffer {
  return response.subarray(response.indexOf('\r\n\r\n') + 4);
}

describe('ResponseParser', () => {
  test('the captured chunked log answer, split at every point into two reads: the same head, frames and one end', () => {
    for (let split = 0; split <= CAPTURED.length; split++) {
      const got = parse(splitAt(CAPTURED, split), { frames: true });
      assert.equal(got.head?.statusCode, 200, `split ${split}`);
      assert.equal(got.head?.headers.get('transfer-encoding'), 'chunked');
      assert.equal(got.head?.headers.get('api-version'), '1.41');
      assert.deepEqual(got.frames, CAPTURED_FRAMES, `split ${split}`);
      assert.equal(got.ends, 1, `split ${split}`);
      assert.equal(got.closeError, undefined);
    }
  });

  test('every pair of split points (three reads), and one byte per read', () => {
    for (let a = 0; a <= CAPTURED.length; a += 3) {
      for (let b = a; b <= CAPTURED.length; b += 5) {
        const got = parse(splitAt(CAPTURED, a, b), { frames: true });
        assert.deepEqual(got.frames, CAPTURED_FRAMES, `splits ${a}, ${b}`);
        assert.equal(got.ends, 1);
      }
    }
    const bytewise = parse([...CAPTURED].map((byte) => Buffer.from([byte])), { frames: true });
    assert.deepEqual(bytewise.frames, CAPTURED_FRAMES);
    assert.equal(bytewise.ends, 1);
  });

  test('in one read, each chunk is one body range of the read itself: no copy', () => {
    const ranges: { buf: Buffer; start: number; end: number }[] = [];
    const parser = new ResponseParser({ head: () => undefined, body: (buf, start, end) => ranges.push({ buf, start, end }), end: () => undefined });
    let at = 0;
    while (at < CAPTURED.length && !parser.complete) at = parser.push(CAPTURED, at);
    assert.equal(ranges.length, 3);
    for (const range of ranges) assert.equal(range.buf, CAPTURED, 'the very buffer the socket read');
    assert.equal(ranges[0]!.end - ranges[0]!.start, 0x2b);
  });

  test('chunk extensions and trailers are read past, hex sizes in either case; a chunk-size line split across reads is joined', () => {
    const response = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;other\r\nhello\r\n06 ; ext\r\n world\r\nA\r\n, 12345678\r\n0;last\r\nX-Trailer: a\r\nX-Other: b\r\n\r\n');
    const sizeLine = response.indexOf('06 ; ext');
    for (const reads of [[response], splitAt(response, sizeLine + 1), splitAt(response, sizeLine + 3, sizeLine + 7), splitAt(response, response.length - 3)]) {
      const got = parse(reads);
      assert.equal(got.body.toString(), 'hello world, 12345678');
      assert.equal(got.ends, 1);
      assert.equal(got.closeError, undefined);
    }
  });

  test('a content-length body, split anywhere, ends after its length', () => {
    for (let split = 0; split <= NOT_FOUND.length; split++) {
      const got = parse(splitAt(NOT_FOUND, split));
      assert.equal(got.head?.statusCode, 404);
      assert.equal(got.body.toString(), '{"message":"No such container: nosuch"}\n');
      assert.equal(got.ends, 1);
    }
  });

  test('a body without length or chunking runs to the close; HEAD, 204 and 304 have none', () => {
    const untilClose = parse([Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome'), Buffer.from(' text')]);
    assert.equal(untilClose.ends, 1, 'the close ends it, without error');
    assert.equal(untilClose.body.toString(), 'some text');
    assert.equal(untilClose.closeError, undefined);
    assert.equal(parse([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n')], { noBody: true }).ends, 1);
    assert.equal(parse([Buffer.from('HTTP/1.1 304 Not Modified\r\n\r\n')]).ends, 1);
    assert.equal(parse([Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n')]).head?.statusCode, 204);
  });

  test('a response cut mid-chunk, mid-size-line, before the last chunk or mid-head is an error at the close, not a silent end', () => {
    for (const cut of [CAPTURED.indexOf('one') , CAPTURED.indexOf('2b\r\n') + 1, CAPTURED.length - 5, CAPTURED.indexOf('\r\n\r\n') - 3]) {
      const got = parse([CAPTURED.subarray(0, cut)]);
      assert.equal(got.ends, 0, `cut at ${cut}`);
      assert.ok(got.closeError instanceof HttpProtocolError, `cut at ${cut}`);
      assert.match(got.closeError.message, /closed the connection before the end of the response/);
    }
    const cutLength = parse([NOT_FOUND.subarray(0, NOT_FOUND.length - 1)]);
    assert.ok(cutLength.closeError instanceof HttpProtocolError, 'a content-length body one byte short');
  });

  test('bytes that are not HTTP, a bad chunk size, chunk data longer than said: HttpProtocolError', () => {
    assert.throws(() => parse([Buffer.from('SSH-2.0-OpenSSH\r\n')]), HttpProtocolError);
    assert.throws(() => parse([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')]), /not a chunk size/);
    assert.throws(() => parse([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n')]), /longer than its size line/);
    assert.throws(() => parse([Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(20_000)}`)]), /longer than/);
  });

  test('stop() from a body callback returns at that range; the rest is pushed later', () => {
    const seen: string[] = [];
    const parser: ResponseParser = new ResponseParser({
      head: () => undefined,
      body: (buf, start, end) => {
        seen.push(buf.toString('utf8', start + 8, end));
        parser.stop();
      },
      end: () => seen.push('end'),
    });
    let at = parser.push(CAPTURED); // stops after the head
    assert.deepEqual(seen, []);
    at = parser.push(CAPTURED, at);
    assert.equal(seen.length, 1);
    while (!parser.complete) at = parser.push(CAPTURED, at);
    assert.deepEqual(seen, [...CAPTURED_FRAMES.map((f) => f.slice(2)), 'end']);
  });
});

/** Polls `condition` every 5 ms until it holds; fails after 5 s. */
async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A unix socket server that answers every connection with `respond` (raw bytes, written as told). */
async function rawServer(respond: (socket: net.Socket, request: string) => void): Promise<{ socketPath: string; requests: string[]; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-raw-'));
  const socketPath = path.join(dir, 'raw.sock');
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (data) => {
      text += data.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      requests.push(text);
      respond(socket, text);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Collected {
  frames: string[];
  ended: Promise<unknown>;
}

function collect(stream: ByteStream, onFrame?: (frames: string[]) => void): Collected {
  const frames: string[] = [];
  const demuxer = new FrameDemuxer();
  const ended = new Promise<unknown>((resolve) => {
    stream.read({
      bytes: (buf, start, end) => demuxer.push(buf, {
        frame: (s, b, from, to) => {
          frames.push(`${s} ${b.toString('utf8', from, to)}`);
          onFrame?.(frames);
        },
      }, start, end),
      end: (error) => resolve(error ?? 'ended'),
    });
  });
  return { frames, ended };
}

function chunked(...chunks: Buffer[]): Buffer {
  return Buffer.concat(chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]));
}

const OK_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked\r\n\r\n';

/** Answers as the daemon follows a log: every line's frame its own chunk and its own write, the next one a loop turn later. */
function oneWritePerTurn(lines: readonly string[]): (socket: net.Socket) => void {
  return (socket) => {
    socket.write(OK_HEAD);
    let next = 0;
    const writeOne = () => {
      if (next === lines.length) return void socket.write('0\r\n\r\n');
      socket.write(chunked(frame(1, lines[next++]!)));
      setImmediate(writeOne);
    };
    writeOne();
  };
}

describe('the log byte stream over a socket (DockerClient.logs)', () => {
  test('a GET with the versioned path and query; frames arrive whole and the stream ends at the last chunk', async () => {
    const server = await rawServer((socket) => socket.write(CAPTURED)); // no close: the last chunk ends it
    try {
      const client = new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' }, { apiVersion: '1.41' });
      const stream = await client.logs('abc', { follow: true, since: '1.000000000' }, undefined);
      const { frames, ended } = collect(stream);
      assert.equal(await ended, 'ended');
      assert.deepEqual(frames, CAPTURED_FRAMES);
      assert.match(server.requests[0]!, /^GET \/v1\.41\/containers\/abc\/logs\?follow=true&since=1\.000000000 HTTP\/1\.1\r\n/);
      assert.equal(stream.destroyed, true, 'its connection is closed');
    } finally {
      await server.close();
    }
  });

  test('404 and 409 reject with DockerHttpError: statusCode and the daemon\'s message', async () => {
    const conflict = 'HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '3b\r\n{"message":"can not get logs from container which is dead"}\r\n0\r\n\r\n';
    const server = await rawServer((socket, request) => socket.write(request.includes('/gone/') ? NOT_FOUND : Buffer.from(conflict)));
    try {
      const client = new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' });
      await assert.rejects(client.logs('gone', {}, undefined), (error: unknown) => {
        assert.ok(error instanceof DockerHttpError);
        assert.equal(error.statusCode, 404);
        assert.equal(error.reason, 'No such container: nosuch');
        assert.match(error.message, /^GET \/containers\/gone\/logs: HTTP 404 - No such container/);
        return true;
      });
      await assert.rejects(client.logs('dead', {}, undefined), (error: unknown) => error instanceof DockerHttpError && error.statusCode === 409 && error.reason === 'can not get logs from container which is dead');
    } finally {
      await server.close();
    }
  });

  test('a connection cut mid-chunk ends the stream with an error, after the frames before the cut', async () => {
    const body = chunked(frame(1, 'first\n'), frame(1, 'second\n'));
    const server = await rawServer((socket) => socket.end(Buffer.concat([Buffer.from(OK_HEAD), body.subarray(0, body.length - 6)])));
    try {
      const stream = await new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' }).logs('abc', {}, undefined);
      const { frames, ended } = collect(stream);
      const error = await ended;
      assert.ok(error instanceof HttpProtocolError, `got ${String(error)}`);
      assert.deepEqual(frames, ['1 first\n']);
    } finally {
      await server.close();
    }
  });

  test('pause() stops the bytes at the next chunk, in the middle of one socket read; resume() goes on in order', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i}\n`);
    const server = await rawServer((socket) => socket.write(Buffer.concat([Buffer.from(OK_HEAD), chunked(...lines.map((l) => frame(1, l))), Buffer.from('0\r\n\r\n')])));
    try {
      const stream = await new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' }).logs('abc', {}, undefined);
      let pausedAt = -1;
      const { frames, ended } = collect(stream, (got) => {
        if (got.length === 10) {
          stream.pause();
          pausedAt = got.length;
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(pausedAt, 10);
      assert.equal(frames.length, 10, 'nothing more while paused');
      assert.equal(stream.isPaused, true);
      stream.resume();
      assert.equal(await ended, 'ended');
      assert.deepEqual(frames, lines.map((l) => `1 ${l}`));
    } finally {
      await server.close();
    }
  });

  test('a stream paused mid-read keeps its bytes while other streams read on (their reads share one buffer)', async () => {
    const linesOf = (name: string) => Array.from({ length: 3000 }, (_, i) => `${name} line ${i} ${'x'.repeat(i % 50)}\n`);
    const body = (name: string) => Buffer.concat([Buffer.from(OK_HEAD), chunked(...linesOf(name).map((l) => frame(1, l))), Buffer.from('0\r\n\r\n')]);
    const server = await rawServer((socket, request) => socket.write(body(request.includes('/paused/') ? 'paused' : 'busy')));
    try {
      const client = new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' });
      const paused = await client.logs('paused', {}, undefined);
      const pausedFrames = collect(paused, (got) => { if (got.length === 10) paused.pause(); });
      await waitUntil(() => paused.isPaused);
      // Meanwhile another stream is read to its end: every one of its reads lands in the shared buffer.
      const busy = collect(await client.logs('busy', {}, undefined));
      assert.equal(await busy.ended, 'ended');
      assert.deepEqual(busy.frames, linesOf('busy').map((l) => `1 ${l}`));
      assert.equal(pausedFrames.frames.length, 10, 'nothing more while paused');
      paused.resume();
      assert.equal(await pausedFrames.ended, 'ended');
      assert.deepEqual(pausedFrames.frames, linesOf('paused').map((l) => `1 ${l}`), 'the paused stream\'s bytes were not overwritten');
    } finally {
      await server.close();
    }
  });

  test('abort ends an open stream with an error and closes the connection; a throwing reader ends it too', async () => {
    const server = await rawServer((socket) => socket.write(Buffer.concat([Buffer.from(OK_HEAD), chunked(frame(1, 'one\n'))]))); // then silence: a follow stream
    try {
      const client = new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' });
      const abort = new AbortController();
      const stream = await client.logs('abc', { follow: true }, abort.signal);
      const { frames, ended } = collect(stream, () => abort.abort());
      const error = await ended;
      assert.equal((error as Error).name, 'AbortError');
      assert.deepEqual(frames, ['1 one\n']);
      assert.equal(stream.destroyed, true);

      const thrower = await client.logs('abc', { follow: true }, undefined);
      const boom = new Error('out of step');
      const end = await new Promise((resolve) => thrower.read({ bytes: () => { throw boom; }, end: resolve }));
      assert.equal(end, boom);
      assert.equal(thrower.destroyed, true);
    } finally {
      await server.close();
    }
  });

  test('a stream that ends before anyone reads it (an empty body, a connection closed after the head) tells its reader on read()', { timeout: 5000 }, async () => {
    const server = await rawServer((socket, request) => {
      if (request.includes('/empty/')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      else socket.end(OK_HEAD); // the head, then the connection closes: no terminating chunk
    });
    try {
      const client = new DockerClient({ kind: 'unix', socketPath: server.socketPath, source: 'test' });
      const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
      const empty = await client.logs('empty', {}, undefined);
      await settle();
      assert.equal(await collect(empty).ended, 'ended');
      const cut = await client.logs('cut', {}, undefined);
      await settle();
      assert.ok(await collect(cut).ended instanceof HttpProtocolError, 'the cut is an error, told once the reader comes');
    } finally {
      await server.close();
    }
  });

  test('one-line writes of a busy stream come in few reads (the socket rests a moment after a small read); every frame once, in order', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`);
    const server = await rawServer(oneWritePerTurn(lines));
    try {
      let reads = 0;
      const counting = {
        readsAsStream: false,
        connect: (onRead: (bytes: Buffer) => void) => net.connect({ path: server.socketPath, onread: { buffer: Buffer.alloc(64 * 1024), callback: (length: number, buffer: Uint8Array) => { reads++; onRead((buffer as Buffer).subarray(0, length)); return true; } } }),
      };
      const stream = await openByteStream(counting, 'GET /containers/abc/logs HTTP/1.1\r\nHost: docker\r\n\r\n', 'GET /containers/abc/logs');
      const { frames, ended } = collect(stream);
      assert.equal(await ended, 'ended');
      assert.deepEqual(frames, lines.map((l) => `1 ${l}`));
      // Read as they come, the writes of one loop turn each would be a read of its own (~2,000).
      assert.ok(reads < lines.length / 4, `${reads} reads for ${lines.length} writes`);
    } finally {
      await server.close();
    }
  });

  test('a socket read as a stream (TLS) never rests: it reads on into its own queue, and a rest would only hand on one chunk a millisecond', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i}\n`);
    const server = await rawServer(oneWritePerTurn(lines));
    try {
      let pauses = 0;
      const asStream = {
        readsAsStream: true,
        connect: () => {
          const socket = net.connect({ path: server.socketPath });
          const pause = socket.pause.bind(socket);
          socket.pause = () => { pauses++; return pause(); };
          return socket;
        },
      };
      const stream = await openByteStream(asStream, 'GET /containers/abc/logs HTTP/1.1\r\nHost: docker\r\n\r\n', 'GET /containers/abc/logs');
      pauses = 0; // body bytes that came before anyone read held it until now
      const { frames, ended } = collect(stream);
      assert.equal(await ended, 'ended');
      assert.deepEqual(frames, lines.map((l) => `1 ${l}`));
      assert.equal(pauses, 0, 'never paused while read: nobody asked it to');
    } finally {
      await server.close();
    }
  });

  test('an unreachable socket rejects with the system error (describeDockerError reads its code)', async () => {
    const client = new DockerClient({ kind: 'unix', socketPath: '/nonexistent-dockhand.sock', source: 'test' });
    await assert.rejects(client.logs('abc', {}, undefined), (error: NodeJS.ErrnoException) => error.code === 'ENOENT');
    await assert.rejects(client.ping(), (error: NodeJS.ErrnoException) => error.code === 'ENOENT');
  });
});
