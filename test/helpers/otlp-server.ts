/**
 * An OTLP/HTTP test receiver: POST /v1/logs and /v1/metrics, protobuf (decoded with the official
 * definitions vendored in ./proto, loaded by protobufjs) or JSON, gzip or not; it keeps what it
 * received as plain objects, counts every log record by its log.record.uid (a replay shows as a
 * uid seen twice), and answers as a receiver does. Faults a test can switch on: refused
 * connections (listener closed), error answers (429 with Retry-After, 503, 400 with a Status
 * body), partial success, and answers held after the request was stored (a crash mid-request).
 *
 * The opt-in tests (OTLP_TEST_ENDPOINT) send to a real OpenTelemetry Collector instead.
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { RefusableListener } from './refusable-listener.js';

const gunzip = promisify(zlib.gunzip);

const PROTO_ROOT = fileURLToPath(new URL('../../../test/helpers/proto/', import.meta.url));

/** The official definitions, loaded once. */
export function otlpProtos(): { logsRequest: protobuf.Type; metricsRequest: protobuf.Type; logRecord: protobuf.Type } {
  if (!loaded) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => PROTO_ROOT + target;
    root.loadSync(['opentelemetry/proto/collector/logs/v1/logs_service.proto', 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto']);
    root.resolveAll();
    loaded = {
      logsRequest: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
      metricsRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
      logRecord: root.lookupType('opentelemetry.proto.logs.v1.LogRecord'),
    };
  }
  return loaded;
}
let loaded: ReturnType<typeof otlpProtos> | undefined;

/** Answers of later protocol versions than the vendored one, by their published field numbers (see proto/README.md). */
const answers = (() => {
  const root = new protobuf.Root();
  const ns = root.define('answers');
  ns.add(new protobuf.Type('LogsPartial').add(new protobuf.Field('rejected_log_records', 1, 'int64')).add(new protobuf.Field('error_message', 2, 'string')));
  ns.add(new protobuf.Type('MetricsPartial').add(new protobuf.Field('rejected_data_points', 1, 'int64')).add(new protobuf.Field('error_message', 2, 'string')));
  ns.add(new protobuf.Type('LogsResponse').add(new protobuf.Field('partial_success', 1, 'LogsPartial')));
  ns.add(new protobuf.Type('MetricsResponse').add(new protobuf.Field('partial_success', 1, 'MetricsPartial')));
  ns.add(new protobuf.Type('Status').add(new protobuf.Field('code', 1, 'int32')).add(new protobuf.Field('message', 2, 'string')));
  root.resolveAll();
  return { logs: root.lookupType('answers.LogsResponse'), metrics: root.lookupType('answers.MetricsResponse'), status: root.lookupType('answers.Status') };
})();

export type Signal = 'logs' | 'metrics';
export type Attributes = Record<string, unknown>;

export interface ReceivedLog {
  readonly resource: Attributes;
  readonly scope: { readonly name: string; readonly version: string };
  readonly timeUnixNano: bigint;
  readonly observedTimeUnixNano: bigint;
  readonly severityNumber: number;
  readonly severityText: string;
  readonly body: unknown;
  readonly attributes: Attributes;
}

export interface ReceivedPoint {
  readonly attributes: Attributes;
  readonly startTimeUnixNano: bigint;
  readonly timeUnixNano: bigint;
  readonly value: number;
  readonly integer: boolean;
}

export interface ReceivedMetric {
  readonly resource: Attributes;
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  readonly type: 'sum' | 'gauge' | 'other';
  readonly monotonic: boolean;
  /** 1 delta, 2 cumulative, 0 for gauges. */
  readonly temporality: number;
  readonly points: readonly ReceivedPoint[];
}

/** A canned answer for the next `times` requests of a signal (all signals when `signal` is absent). */
export interface AnswerRule {
  readonly status: number;
  readonly retryAfter?: string;
  /** google.rpc.Status message for an error status. */
  readonly message?: string;
  /** A 200 with partial success: this many rejected (the records are stored all the same). */
  readonly rejected?: number;
  readonly times?: number;
  readonly signal?: Signal;
  /** Only requests that carry log lines (not only events). */
  readonly withLines?: boolean;
}

export interface RequestRecord {
  readonly signal: Signal;
  /** When it was answered (ms epoch). */
  readonly at: number;
  readonly contentType: string;
  readonly contentEncoding: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly status: number;
  readonly records: number;
}

export interface OtlpTestServerOptions {
  /**
   * Benchmarks: requests are decoded (protobufjs) and their records counted (`counters`), log
   * lines apart from events, but nothing is kept, converted or deduplicated.
   */
  readonly countOnly?: boolean;
}

export class OtlpTestServer {
  /** Records counted (all modes): log records with log.iostream (lines), other log records (events), data points. */
  readonly counters = { requests: 0, lines: 0, events: 0, points: 0, bytesReceived: 0 };
  readonly logs: ReceivedLog[] = [];
  readonly metrics: ReceivedMetric[] = [];
  readonly requests: RequestRecord[] = [];
  /** log.record.uid → times received (in the order first received). */
  readonly uids = new Map<string, number>();
  /** log.record.uid → when first received (ms epoch). */
  readonly firstReceived = new Map<string, number>();
  private readonly listener: RefusableListener;
  private rules: (AnswerRule & { left: number })[] = [];
  private holdAnswers = false;
  private readonly held: (() => void)[] = [];

  private constructor(private readonly options: OtlpTestServerOptions = {}) {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    this.listener = new RefusableListener(server);
  }

  static async start(options: OtlpTestServerOptions = {}): Promise<OtlpTestServer> {
    otlpProtos();
    const server = new OtlpTestServer(options);
    await server.listener.accept();
    return server;
  }

  get url(): string {
    return this.listener.url;
  }

  /** Log lines (not events) of a container. */
  logsOf(containerId: string): ReceivedLog[] {
    return this.logs.filter((l) => l.resource['container.id'] === containerId && l.attributes['log.iostream'] !== undefined);
  }

  /** uids received more than once. */
  duplicates(): string[] {
    return [...this.uids].filter(([, times]) => times > 1).map(([uid]) => uid);
  }

  // ---- faults ------------------------------------------------------------------------------

  /** Answers the next requests as the rule says (rules apply in the order given). */
  answer(rule: AnswerRule): void {
    this.rules.push({ ...rule, left: rule.times ?? 1 });
  }

  clearAnswers(): void {
    this.rules = [];
  }

  /** Stores requests as usual but holds their answers until release (or close): a client killed meanwhile never hears back. */
  holdResponses(hold: boolean): void {
    this.holdAnswers = hold;
    if (!hold) for (const release of this.held.splice(0)) release();
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Closes the listener and every open connection: new connections are refused. */
  refuseConnections(): Promise<void> {
    return this.listener.refuse();
  }

  /** Listens again on the same port. */
  acceptConnections(): Promise<void> {
    return this.listener.accept();
  }

  async close(): Promise<void> {
    for (const release of this.held.splice(0)) release();
    await this.listener.refuse();
  }

  // ---- requests ----------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const signal: Signal | undefined = req.url === '/v1/logs' ? 'logs' : req.url === '/v1/metrics' ? 'metrics' : undefined;
    if (req.method !== 'POST' || !signal) {
      res.writeHead(404).end();
      return;
    }
    const contentType = String(req.headers['content-type'] ?? '');
    const contentEncoding = String(req.headers['content-encoding'] ?? '');
    const json = contentType.startsWith('application/json');
    const note = (status: number, records: number) => this.requests.push({ signal, at: Date.now(), contentType, contentEncoding, headers: req.headers, status, records });
    const raw = Buffer.concat(chunks);
    let request: Record<string, any> | undefined;
    let records: number | undefined;
    try {
      const body = contentEncoding === 'gzip' ? await gunzip(raw) : raw;
      if (this.options.countOnly && !json && signal === 'logs') records = this.countLogs(body);
      else request = this.decode(signal, body, json);
    } catch (error) {
      note(400, 0);
      this.reply(res, json, 400, this.errorBody(json, { status: 400, message: `cannot decode the request: ${(error as Error).message}` }));
      return;
    }
    const rule = this.takeRule(signal, request !== undefined && hasLines(request));
    if (rule && rule.status !== 200) {
      note(rule.status, 0);
      this.reply(res, json, rule.status, this.errorBody(json, rule), rule.retryAfter);
      return;
    }
    this.counters.requests++;
    this.counters.bytesReceived += raw.length;
    if (request) records = signal === 'logs' ? this.storeLogs(request) : this.storeMetrics(request);
    note(200, records ?? 0);
    const answer = () => this.reply(res, json, 200, this.successBody(signal, json, rule?.rejected));
    if (this.holdAnswers) this.held.push(answer);
    else answer();
  }

  private takeRule(signal: Signal, withLines: boolean): AnswerRule | undefined {
    const index = this.rules.findIndex((r) => r.left > 0 && (r.signal === undefined || r.signal === signal) && (!r.withLines || withLines));
    if (index < 0) return undefined;
    const rule = this.rules[index]!;
    rule.left--;
    if (rule.left === 0) this.rules.splice(index, 1);
    return rule;
  }

  private decode(signal: Signal, body: Buffer, json: boolean): Record<string, any> {
    const type = signal === 'logs' ? otlpProtos().logsRequest : otlpProtos().metricsRequest;
    const message = json ? type.fromObject(JSON.parse(body.toString('utf8'))) : type.decode(body);
    return type.toObject(message, { longs: String, enums: Number, defaults: true, oneofs: true });
  }

  /** Counts lines and events of a protobuf request without converting or keeping them. */
  private countLogs(body: Buffer): number {
    const request = otlpProtos().logsRequest.decode(body) as unknown as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string }[] }[] }[] }[] };
    let count = 0;
    for (const rl of request.resourceLogs) {
      for (const sl of rl.scopeLogs) {
        for (const lr of sl.logRecords) {
          if (lr.attributes.some((a) => a.key === 'log.iostream')) this.counters.lines++;
          else this.counters.events++;
          count++;
        }
      }
    }
    return count;
  }

  private storeLogs(request: Record<string, any>): number {
    let count = 0;
    for (const rl of request.resourceLogs ?? []) {
      const resource = attributesOf(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        const scope = { name: sl.scope?.name ?? '', version: sl.scope?.version ?? '' };
        for (const lr of sl.logRecords ?? []) {
          const attributes = attributesOf(lr.attributes);
          if (attributes['log.iostream'] !== undefined) this.counters.lines++;
          else this.counters.events++;
          this.logs.push({
            resource, scope, attributes,
            timeUnixNano: BigInt(lr.timeUnixNano), observedTimeUnixNano: BigInt(lr.observedTimeUnixNano),
            severityNumber: lr.severityNumber, severityText: lr.severityText, body: valueOf(lr.body),
          });
          const uid = attributes['log.record.uid'];
          if (typeof uid === 'string') {
            const times = (this.uids.get(uid) ?? 0) + 1;
            this.uids.set(uid, times);
            if (times === 1) this.firstReceived.set(uid, Date.now());
          }
          count++;
        }
      }
    }
    return count;
  }

  private storeMetrics(request: Record<string, any>): number {
    let count = 0;
    for (const rm of request.resourceMetrics ?? []) {
      const resource = attributesOf(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          const data = m.sum ?? m.gauge;
          const points = (data?.dataPoints ?? []).map((p: Record<string, any>) => ({
            attributes: attributesOf(p.attributes),
            startTimeUnixNano: BigInt(p.startTimeUnixNano),
            timeUnixNano: BigInt(p.timeUnixNano),
            value: p.value === 'asInt' ? Number(p.asInt) : Number(p.asDouble),
            integer: p.value === 'asInt',
          }));
          this.metrics.push({
            resource, name: m.name, unit: m.unit, description: m.description,
            type: m.sum ? 'sum' : m.gauge ? 'gauge' : 'other', monotonic: Boolean(m.sum?.isMonotonic), temporality: m.sum?.aggregationTemporality ?? 0, points,
          });
          count += points.length;
          this.counters.points += points.length;
        }
      }
    }
    return count;
  }

  private successBody(signal: Signal, json: boolean, rejected: number | undefined): Buffer {
    if (rejected === undefined) return json ? Buffer.from('{}') : Buffer.alloc(0);
    const message = `${rejected} rejected by the test server`;
    if (json) {
      const partial = signal === 'logs' ? { rejectedLogRecords: String(rejected), errorMessage: message } : { rejectedDataPoints: String(rejected), errorMessage: message };
      return Buffer.from(JSON.stringify({ partialSuccess: partial }));
    }
    const type = answers[signal];
    const partial = signal === 'logs' ? { rejected_log_records: rejected, error_message: message } : { rejected_data_points: rejected, error_message: message };
    return Buffer.from(type.encode(type.fromObject({ partial_success: partial })).finish());
  }

  private errorBody(json: boolean, rule: AnswerRule): Buffer {
    const message = rule.message ?? `test server answers ${rule.status}`;
    if (json) return Buffer.from(JSON.stringify({ code: rule.status === 400 ? 3 : 14, message }));
    return Buffer.from(answers.status.encode(answers.status.fromObject({ code: rule.status === 400 ? 3 : 14, message })).finish());
  }

  private reply(res: http.ServerResponse, json: boolean, status: number, body: Buffer, retryAfter?: string): void {
    if (res.destroyed) return;
    const headers: http.OutgoingHttpHeaders = { 'content-type': json ? 'application/json' : 'application/x-protobuf', 'content-length': body.length };
    if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
    res.writeHead(status, headers).end(body);
  }
}

/** Whether a decoded logs request carries a log line (a record with log.iostream), not only events. */
function hasLines(request: Record<string, any>): boolean {
  return (request.resourceLogs ?? []).some((rl: Record<string, any>) => (rl.scopeLogs ?? []).some((sl: Record<string, any>) =>
    (sl.logRecords ?? []).some((lr: Record<string, any>) => (lr.attributes ?? []).some((a: { key: string }) => a.key === 'log.iostream'))));
}

/** A KeyValue list as a plain object, values as JavaScript values (arrays and maps nested). */
export function attributesOf(list: readonly Record<string, any>[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of list ?? []) out[kv.key] = valueOf(kv.value);
  return out;
}

/** An AnyValue (as protobufjs toObject gives it, oneofs on) as a JavaScript value; int64 as bigint. */
export function valueOf(value: Record<string, any> | undefined | null): unknown {
  if (!value || !value.value) return undefined;
  switch (value.value) {
    case 'stringValue': return value.stringValue;
    case 'boolValue': return value.boolValue;
    case 'intValue': return BigInt(value.intValue);
    case 'doubleValue': return value.doubleValue;
    case 'arrayValue': return (value.arrayValue.values ?? []).map((v: Record<string, any>) => valueOf(v));
    case 'kvlistValue': return attributesOf(value.kvlistValue.values);
    case 'bytesValue': return value.bytesValue;
    default: return undefined;
  }
}
