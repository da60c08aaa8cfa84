/**
 * The official client's own transport (the `@elastic/transport` that `@elastic/elasticsearch` is built
 * on: Transport, HttpConnection, WeightedConnectionPool, Serializer, errors) without what the exporter
 * never uses. The client itself would load its ~500 API methods and undici (`new Client()` picks
 * UndiciConnection); the transport's module indexes would still load undici (the pools import every
 * connection class) and OpenTelemetry (~4 MiB of semantic conventions, for spans the exporter's
 * requests never open: they carry no API name). Measured with `node --expose-gc`, cumulative
 * imports: `@elastic/elasticsearch` +28–32 MiB RSS, these parts +5–6 MiB.
 *
 * The two module indexes are answered here before the transport's files require them, each with the
 * transport's own classes minus the unused ones. Should a later transport move its files, the whole
 * transport is loaded instead (heavier, same behaviour); test/unit/elasticsearch-transport.test.ts
 * fails then.
 */
import { createRequire, Module } from 'node:module';
import type * as Elastic from '@elastic/elasticsearch';

export type TransportClass = typeof Elastic.Transport;
export type Transport = Elastic.Transport;
export type SerializerClass = typeof Elastic.Serializer;

export interface TransportParts {
  readonly Transport: TransportClass;
  readonly HttpConnection: typeof Elastic.HttpConnection;
  readonly WeightedConnectionPool: typeof Elastic.WeightedConnectionPool;
  readonly Serializer: SerializerClass;
  readonly errors: typeof Elastic.errors;
  readonly Diagnostic: typeof Elastic.Diagnostic;
}

/** `require` as `@elastic/elasticsearch` itself resolves: its own `@elastic/transport`, wherever npm put it. */
const requireAsClient = createRequire(createRequire(import.meta.url).resolve('@elastic/elasticsearch'));
const TRANSPORT = '@elastic/transport/lib';

let loaded: TransportParts | undefined;

export function transportParts(): TransportParts {
  return loaded ??= loadLean() ?? loadWhole();
}

function loadLean(): TransportParts | undefined {
  try {
    const BaseConnection = defaultOf(`${TRANSPORT}/connection/BaseConnection`);
    const HttpConnection = defaultOf<TransportParts['HttpConnection']>(`${TRANSPORT}/connection/HttpConnection`);
    provide(`${TRANSPORT}/connection/index`, { BaseConnection, HttpConnection });
    const { MiddlewareName, MiddlewarePriority } = requireAsClient(`${TRANSPORT}/middleware/types`) as { MiddlewareName: Record<string, string>; MiddlewarePriority: Record<string, number> };
    const name = MiddlewareName.OPEN_TELEMETRY!;
    /** Registered as the transport always does, with no hook: the middleware engine skips it. */
    class UntracedMiddleware {
      readonly name = name;
      readonly priority = MiddlewarePriority[name];
    }
    provide(`${TRANSPORT}/middleware/OpenTelemetry`, { OpenTelemetryMiddleware: UntracedMiddleware });
    return {
      Transport: defaultOf(`${TRANSPORT}/Transport`),
      HttpConnection,
      WeightedConnectionPool: defaultOf(`${TRANSPORT}/pool/WeightedConnectionPool`),
      Serializer: defaultOf(`${TRANSPORT}/Serializer`),
      errors: requireAsClient(`${TRANSPORT}/errors`),
      Diagnostic: defaultOf(`${TRANSPORT}/Diagnostic`),
    };
  } catch {
    return undefined;
  }
}

function loadWhole(): TransportParts {
  return requireAsClient('@elastic/transport') as TransportParts;
}

function defaultOf<T>(id: string): T {
  const value = (requireAsClient(id) as { default?: T }).default;
  if (value === undefined) throw new Error(`${id} has no default export`);
  return value;
}

/** Puts `exports` in the require cache as module `id`, unless it was loaded already. */
function provide(id: string, exports: object): void {
  const file = requireAsClient.resolve(id);
  if (requireAsClient.cache[file]) return;
  const module = new Module(file);
  module.filename = file;
  module.loaded = true;
  module.exports = exports;
  requireAsClient.cache[file] = module;
}
