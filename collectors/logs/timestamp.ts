/**
 * The daemon's RFC 3339 timestamps (`2026-11-28T00:32:10.254919479Z`, fraction 0–9 digits, `Z` or
 * an offset) read straight from the bytes of a frame: no string is made, nanoseconds are kept.
 * Consecutive lines mostly share their second, so the seconds of the last date-time are reused
 * when its 19 bytes repeat.
 */

export const NS_PER_SECOND = 1_000_000_000n;

/** Milliseconds since the epoch (a clock, the daemon's FinishedAt × 1000) as epoch nanoseconds, rounded to the millisecond. */
export function nanosFromMs(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1_000_000n;
}

/** Where the last parse ended and what it read. One instance per reader; not re-entrant. */
export class TimestampParser {
  /** Seconds since the epoch of the last successful parse. */
  seconds = 0;
  /** Nanoseconds within that second. */
  nanos = 0;
  private cachedKey = Buffer.alloc(19);
  private cachedSeconds = -1;
  private cachedSecondsBig = 0n;

  /**
   * Parses a timestamp starting at `start` in `buf` (up to `end`). Returns the index just after it,
   * or -1 when the bytes there are not an RFC 3339 timestamp.
   */
  parse(buf: Buffer, start: number, end: number): number {
    if (end - start < 20) return -1;
    let seconds: number;
    if (this.cachedSeconds >= 0 && this.sameSecond(buf, start)) {
      seconds = this.cachedSeconds;
    } else {
      if (buf[start + 4] !== 45 || buf[start + 7] !== 45 || buf[start + 10] !== 84 || buf[start + 13] !== 58 || buf[start + 16] !== 58) return -1;
      const year = digits(buf, start, 4);
      const month = digits(buf, start + 5, 2);
      const day = digits(buf, start + 8, 2);
      const hour = digits(buf, start + 11, 2);
      const minute = digits(buf, start + 14, 2);
      const second = digits(buf, start + 17, 2);
      if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return -1;
      seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
      buf.copy(this.cachedKey, 0, start, start + 19);
      this.cachedSeconds = seconds;
      this.cachedSecondsBig = BigInt(seconds) * NS_PER_SECOND;
    }
    let i = start + 19;
    let nanos = 0;
    if (buf[i] === 46) {
      i++;
      let count = 0;
      while (i < end && count < 9) {
        const d = buf[i]! - 48;
        if (d < 0 || d > 9) break;
        nanos = nanos * 10 + d;
        i++;
        count++;
      }
      if (count === 0) return -1;
      while (i < end && buf[i]! >= 48 && buf[i]! <= 57) i++; // beyond nanoseconds: ignored
      for (; count < 9; count++) nanos *= 10;
    }
    if (i >= end) return -1;
    const zone = buf[i];
    if (zone === 90) {
      i++;
    } else if (zone === 43 || zone === 45) {
      if (end - i < 6 || buf[i + 3] !== 58) return -1;
      const h = digits(buf, i + 1, 2);
      const m = digits(buf, i + 4, 2);
      if (h < 0 || m < 0) return -1;
      const offset = (h * 3600 + m * 60) * (zone === 43 ? 1 : -1);
      // Rare (the daemon writes UTC): not cached, since the 19-byte key does not include the zone.
      this.seconds = seconds - offset;
      this.nanos = nanos;
      this.cachedSeconds = -1;
      return i + 6;
    } else {
      return -1;
    }
    this.seconds = seconds;
    this.nanos = nanos;
    return i;
  }

  // Seconds change most often, so compare from the end; a JS loop beats a native call for 19 bytes.
  private sameSecond(buf: Buffer, start: number): boolean {
    const key = this.cachedKey;
    for (let i = 18; i >= 0; i--) if (buf[start + i] !== key[i]) return false;
    return true;
  }

  /** The last parse as nanoseconds since the epoch. */
  get time(): bigint {
    if (this.cachedSeconds === this.seconds) return this.cachedSecondsBig + BigInt(this.nanos);
    return BigInt(this.seconds) * NS_PER_SECOND + BigInt(this.nanos);
  }
}

function digits(buf: Buffer, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The `since` query value: seconds.nanoseconds, nine digits (the daemon reads it that way, inclusive). */
export function formatSince(ns: bigint): string {
  if (ns <= 0n) return '0';
  const seconds = ns / NS_PER_SECOND;
  const nanos = ns % NS_PER_SECOND;
  return `${seconds}.${nanos.toString().padStart(9, '0')}`;
}
