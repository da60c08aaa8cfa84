/**
 * Turning the daemon's `/events` stream into EventRecords: split the byte stream into JSON
 * objects (one or several per chunk, or one split across chunks), keep `timeNano` exact (it does
 * not fit a double), and normalise each message into the record model.
 */
import { createHash } from 'node:crypto';
import type { ContainerMeta, EpochNanos, EventRecord } from '../../src/records.js';
import { DAEMON_ATTRIBUTES } from '../../src/docker/inventory.js';

export { JsonObjectSplitter } from '../../src/docker/json-stream.js';
export { actionVerb, healthFromAction } from '../../src/docker/inventory-service.js';

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

export { DAEMON_ATTRIBUTES };

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
