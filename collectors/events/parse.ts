/**
 * Turning the daemon's `/events` stream into EventRecords: split the byte stream into JSON
 * objects (one or several per chunk, or one split across chunks), keep `timeNano` exact (it does
 * not fit a double), and normalise each message into the record model.
 */
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { ContainerMeta, EpochNanos, EventRecord } from '../../src/records.js';

/** One message of `GET /events`, as the Engine API (1.24+) writes it. */
export interface DockerEventMessage {
  readonly Type?: string;
  readonly Action?: string;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Record<string, string> };
  readonly scope?: string;
  readonly time?: number;
  /** Parsed separately from the raw text: JSON.parse would round it to a double. */
  readonly timeNano?: number;
  /** Pre-1.22 fields, still sent by 20.10. */
  readonly status?: string;
  readonly id?: string;
  readonly from?: string;
}

export interface ParsedEvent {
  readonly message: DockerEventMessage;
  readonly time: EpochNanos;
  readonly type: string;
  readonly action: string;
  readonly actorId: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly id: string;
}

/**
 * Splits a stream of concatenated JSON objects into their texts. Tracks string and escape state,
 * so it needs no newline between objects and survives a chunk boundary anywhere, even inside a
 * multi-byte character.
 */
export class JsonObjectSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  push(chunk: Buffer | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: string[] = [];
    const text = this.pending;
    let i = this.scanned;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) {
        if (this.depth > 0) this.inString = true;
      } else if (c === 0x7b /* { */) {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === 0x7d /* } */ && this.depth > 0) {
        this.depth--;
        if (this.depth === 0) {
          out.push(text.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // Keep only the unfinished object (if any) for the next chunk.
    if (this.depth > 0 && this.start >= 0) {
      this.pending = text.slice(this.start);
      this.scanned = this.pending.length;
      this.start = 0;
    } else {
      this.pending = '';
      this.scanned = 0;
    }
    return out;
  }

  /** Bytes of an object not finished yet (for diagnostics when a stream ends mid-object). */
  get buffered(): number {
    return this.pending.length;
  }
}

const TIME_NANO_AT_END = /"timeNano"\s*:\s*(\d+)\s*\}\s*$/;
const TIME_NANO_ANYWHERE = /"timeNano"\s*:\s*(\d+)/g;

/** The exact `timeNano` of a raw event text; the daemon writes it as the last field. */
export function extractTimeNano(text: string): EpochNanos | undefined {
  const atEnd = TIME_NANO_AT_END.exec(text);
  if (atEnd) return BigInt(atEnd[1]!);
  let last: string | undefined;
  for (const m of text.matchAll(TIME_NANO_ANYWHERE)) last = m[1];
  return last === undefined ? undefined : BigInt(last);
}

/** Deterministic: the same daemon event always gets the same id, across reconnects and restarts. */
export function eventId(time: EpochNanos, type: string, action: string, actorId: string): string {
  return createHash('sha256').update(`${time}\0${type}\0${action}\0${actorId}`).digest('hex').slice(0, 32);
}

/** Parses one JSON text from the stream; undefined for anything that is not an event object. */
export function parseEvent(text: string): ParsedEvent | undefined {
  let message: DockerEventMessage;
  try {
    message = JSON.parse(text) as DockerEventMessage;
  } catch {
    return undefined;
  }
  if (!message || typeof message !== 'object') return undefined;
  const type = message.Type ?? (message.status ? 'container' : undefined);
  const action = message.Action ?? message.status;
  if (!type || !action) return undefined;
  const time = extractTimeNano(text) ?? (typeof message.time === 'number' ? BigInt(message.time) * 1_000_000_000n : undefined);
  if (time === undefined) return undefined;
  const actorId = message.Actor?.ID ?? message.id ?? '';
  const attributes = message.Actor?.Attributes ?? {};
  return { message, time, type, action, actorId, attributes, id: eventId(time, type, action, actorId) };
}

/**
 * Attribute keys the daemon itself sets on events (as opposed to the object's labels, which it
 * copies in beside them). Labels pass only when allow-listed; these always pass.
 */
export const DAEMON_ATTRIBUTES: ReadonlySet<string> = new Set([
  'name', 'image', 'exitCode', 'signal', 'execID', 'container', 'type', 'driver', 'destination',
  'propagation', 'read/write', 'imageID', 'id', 'reason', 'oldName', 'cpushares', 'memory',
  'cpuset', 'blkio', 'restartPolicy',
]);

export function shippedAttributes(
  attributes: Readonly<Record<string, string>>,
  labelAllowed: (key: string) => boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (DAEMON_ATTRIBUTES.has(key) || labelAllowed(key)) out[key] = value;
  }
  return out;
}

/** `health_status: unhealthy` → `unhealthy`; undefined for other actions. */
export function healthFromAction(action: string): 'healthy' | 'unhealthy' | 'starting' | undefined {
  if (!action.startsWith('health_status')) return undefined;
  const status = action.slice(action.indexOf(':') + 1).trim();
  return status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : undefined;
}

/** The verb of an action: `exec_start: sh -c …` → `exec_start`. */
export function actionVerb(action: string): string {
  const colon = action.indexOf(':');
  return colon < 0 ? action : action.slice(0, colon);
}

export function toEventRecord(
  event: ParsedEvent,
  attributes: Readonly<Record<string, string>>,
  container: ContainerMeta | undefined,
): EventRecord {
  return {
    kind: 'event',
    id: event.id,
    time: event.time,
    type: event.type,
    action: event.action,
    actor: { id: event.actorId, attributes },
    ...(event.message.scope ? { scope: event.message.scope } : {}),
    ...(container ? { container } : {}),
  };
}
