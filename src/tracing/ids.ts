// Trace and span ids as lower-case hex, cut from a pool of random bytes refilled 8 KiB at a time:
// one randomFillSync per 512 span ids instead of one per id, and no SDK on the unsampled path.
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(8192);
let offset = pool.length;

export const ZERO_TRACE_ID = '00000000000000000000000000000000';
export const ZERO_SPAN_ID = '0000000000000000';

/** Where `bytes` fresh random bytes start in the pool (refilled when too few are left). */
function takeRandom(bytes: number): number {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

function randomHex(bytes: number): string {
  const at = takeRandom(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** 32 hex characters, never all zero (W3C and B3 both call an all-zero id invalid). */
export function newTraceId(): string {
  const id = randomHex(16);
  return id === ZERO_TRACE_ID ? '00000000000000000000000000000001' : id;
}

/** 16 hex characters, never all zero. */
export function newSpanId(): string {
  const id = randomHex(8);
  return id === ZERO_SPAN_ID ? '0000000000000001' : id;
}

/**
 * The span id of an unsampled root: no span is recorded, so its id only has to be valid and
 * unlikely to repeat; the trace id's random low half is both, and saves drawing another.
 */
export function unrecordedSpanId(traceId: string): string {
  const low = traceId.slice(16);
  return low === ZERO_SPAN_ID ? newSpanId() : low;
}

// `00-<trace id>-<span id>-00`, built in place: one string per unsampled request, not the six a
// template literal of two hex strings makes before it is flattened.
const UNSAMPLED = Buffer.from(`00-${ZERO_TRACE_ID}-${ZERO_SPAN_ID}-00`, 'latin1');
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Writes `bytes` pool bytes from `from` as hex at `at`; returns their OR (0: all zero). */
function writeHex(out: Buffer, at: number, from: number, bytes: number): number {
  let bits = 0;
  for (let i = 0; i < bytes; i++) {
    const b = pool[from + i]!;
    bits |= b;
    out[at++] = HEX_DIGITS[b >> 4]!;
    out[at++] = HEX_DIGITS[b & 15]!;
  }
  return bits;
}

/**
 * The traceparent of a request that starts a trace this hop does not record: a new trace id, its
 * low half as the span id (as unrecordedSpanId), decision 00. Neither id is ever all zero.
 */
export function unsampledTraceparent(): string {
  const at = takeRandom(16);
  writeHex(UNSAMPLED, 3, at, 8);
  const low = writeHex(UNSAMPLED, 19, at + 8, 8);
  if (low === 0) UNSAMPLED[34] = 0x31; // "…0001": neither id may be all zero
  UNSAMPLED.copyWithin(36, 19, 35);
  return UNSAMPLED.latin1Slice(0, UNSAMPLED.length);
}

/** Value of each lower-case hex digit by char code; -1 for every other character. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

function hexDigit(c: number): number {
  return c < 128 ? HEX_VALUE[c]! : -1; // NaN (past the end) is not < 128
}

/** `s` holds exactly `length` lower-case hex digits from `start` on, not all of them zero. */
export function isHexIdAt(s: string, start: number, length: number): boolean {
  if (s.length < start + length) return false;
  let bits = 0;
  for (let i = start; i < start + length; i++) {
    const v = hexDigit(s.charCodeAt(i));
    if (v < 0) return false;
    bits |= v;
  }
  return bits !== 0;
}

/** Two lower-case hex digits (a traceparent version or flags field), or -1. */
export function hexByte(s: string, at: number): number {
  const hi = hexDigit(s.charCodeAt(at));
  const lo = hexDigit(s.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}
