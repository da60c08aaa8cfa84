/**
 * What an OTLP/HTTP receiver answers, read in the encoding it answered in: the partial success of a
 * 200 (Export<Signal>ServiceResponse.partial_success) and the google.rpc.Status of an error. Only
 * these few fields are read, with a small protobuf reader: any other field is skipped.
 */
import type { PushAnswer } from '../push/http-push.js';

export interface PartialSuccess {
  /** rejected_log_records / rejected_data_points. */
  readonly rejected: number;
  readonly message: string;
}

/** Export<Signal>ServiceResponse { partial_success = 1 { rejected_<signal> = 1 (int64), error_message = 2 } }; undefined when absent or empty. */
export function partialSuccessOf(answer: PushAnswer): PartialSuccess | undefined {
  if (answer.body.length === 0) return undefined;
  if (isJson(answer)) {
    const parsed = parseJson(answer.body) as { partialSuccess?: Record<string, unknown> } | undefined;
    const partial = parsed?.partialSuccess;
    if (!partial || typeof partial !== 'object') return undefined;
    const rejected = Number(partial.rejectedLogRecords ?? partial.rejectedDataPoints ?? 0);
    const message = typeof partial.errorMessage === 'string' ? partial.errorMessage : '';
    return rejected > 0 || message ? { rejected: Number.isFinite(rejected) ? rejected : 0, message } : undefined;
  }
  const partial = safeFields(answer.body)?.get(1);
  if (!(partial instanceof Uint8Array)) return undefined;
  const fields = safeFields(partial);
  if (!fields) return undefined;
  const rejected = Number(fields.get(1) ?? 0);
  const message = fields.get(2) instanceof Uint8Array ? Buffer.from(fields.get(2) as Uint8Array).toString('utf8') : '';
  return rejected > 0 || message ? { rejected, message } : undefined;
}

/** The message of an error answer: google.rpc.Status { code = 1, message = 2 } (protobuf or JSON), else the body as text. */
export function errorTextOf(answer: PushAnswer): string {
  if (answer.body.length === 0) return '';
  if (isJson(answer)) {
    const parsed = parseJson(answer.body) as { message?: unknown } | undefined;
    if (parsed && typeof parsed.message === 'string') return parsed.message;
  } else if (isProtobuf(answer)) {
    const message = safeFields(answer.body)?.get(2);
    if (message instanceof Uint8Array) return Buffer.from(message).toString('utf8');
  }
  return answer.body.subarray(0, 300).toString('utf8');
}

function contentType(answer: PushAnswer): string {
  return String(answer.headers['content-type'] ?? '').toLowerCase();
}

function isJson(answer: PushAnswer): boolean {
  return contentType(answer).includes('json');
}

function isProtobuf(answer: PushAnswer): boolean {
  return contentType(answer).includes('protobuf');
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function safeFields(bytes: Uint8Array): Map<number, bigint | Uint8Array> | undefined {
  try {
    return fieldsOf(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The fields of one message, by number (the last occurrence wins): varints as bigint,
 * length-delimited fields as bytes; fixed-width fields are skipped. Throws on a malformed message.
 */
export function fieldsOf(bytes: Uint8Array): Map<number, bigint | Uint8Array> {
  const fields = new Map<number, bigint | Uint8Array>();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= bytes.length) throw new Error('truncated varint');
      const byte = bytes[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new Error('varint too long');
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) fields.set(field, BigInt.asIntN(64, varint()));
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = Number(varint());
      if (pos + length > bytes.length) throw new Error('truncated field');
      fields.set(field, bytes.subarray(pos, pos + length));
      pos += length;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  if (pos > bytes.length) throw new Error('truncated field');
  return fields;
}
