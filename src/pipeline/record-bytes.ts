/**
 * What a record holds in memory while it waits in a queue, roughly: its text (a log line's message,
 * counted twice when its parsed JSON travels with it) plus a fixed share for the object, its id and
 * its time. Cheap on purpose (no serialising): it bounds queues and batches in bytes, so a burst of
 * 200 KB lines cannot fill memory the way 20,000 of them would.
 */
import type { AgentRecord } from '../records.js';

/** A log record without its message: the object, its id (its parts; ~100 characters once asked for), its bigint time, its share of the ack. */
const LOG_RECORD_OVERHEAD = 256;
/** Events, metric and engine samples: small objects of a few dozen fields. */
const OTHER_RECORD_BYTES = 1024;

export function recordBytes(record: AgentRecord): number {
  if (record.kind === 'log') return LOG_RECORD_OVERHEAD + (record.json ? 2 : 1) * record.message.length;
  return OTHER_RECORD_BYTES;
}
