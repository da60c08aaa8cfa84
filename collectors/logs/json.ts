/** Reads a line that is a JSON object into the record's `json` field; `message` stays as written. */

/** The parsed object, or undefined when the line is not a JSON object (arrays and scalars are not). */
export function parseJsonObject(message: string): Record<string, unknown> | undefined {
  let start = 0;
  let end = message.length;
  while (start < end && isSpace(message.charCodeAt(start))) start++;
  while (end > start && isSpace(message.charCodeAt(end - 1))) end--;
  if (end - start < 2 || message.charCodeAt(start) !== 123 || message.charCodeAt(end - 1) !== 125) return undefined;
  try {
    const value: unknown = JSON.parse(message);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 10;
}
