// What a tap copies out of a request: header fields (credentials redacted, sizes bounded) and the
// first N bytes of a body. Copies only: what flows on is never touched, and a body prefix never
// holds more than N bytes however long the body is.
import type { HeaderList } from '../proxy/types.ts';
import type { TapBody, TapHeaders } from './event.ts';

/**
 * Credentials by design: their values never leave the proxy, even to an admin, so that tapping
 * a service cannot be used to collect its callers' sessions and tokens.
 */
export const REDACTED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
]);
export const REDACTED = '<redacted>';

const MAX_FIELDS = 200;
const MAX_NAME = 256;
const MAX_VALUE = 4096;
/** Characters of one header list kept in all: a batch of events stays well under the stream's 1 MiB. */
const MAX_TOTAL = 16 * 1024;

/** [name, value] pairs from a flat header list, redacted and bounded (fields past the bounds left out). */
export function captureHeaders(headers: HeaderList | null): TapHeaders {
  const out: TapHeaders = [];
  if (headers === null) return out;
  let total = 0;
  for (let i = 0; i + 1 < headers.length && out.length < MAX_FIELDS; i += 2) {
    const name = headers[i]!.slice(0, MAX_NAME);
    const value = REDACTED_HEADERS.has(name) ? REDACTED : headers[i + 1]!.slice(0, MAX_VALUE);
    total += name.length + value.length;
    if (total > MAX_TOTAL) break;
    out.push([name, value]);
  }
  return out;
}

/** At most what captured headers weigh as JSON (a character of a header takes 2 bytes at most). */
export function headersSize(headers: TapHeaders | undefined): number {
  if (headers === undefined) return 0;
  let n = 0;
  for (const [k, v] of headers) n += 2 * (k.length + v.length) + 6;
  return n;
}

/** A string cut to the length the event schema allows (event.ts). */
export function clip(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, max);
}

/** The first `limit` bytes of a body, copied as they pass. */
export class BodyPrefix {
  private readonly limit: number;
  private buf: Buffer | undefined;
  private kept = 0;
  /** Every byte that passed, kept or not. */
  total = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  add(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0 || chunk.length === 0) return;
    // A copy: the chunk's memory may be reused by the parser once this call returns.
    this.buf ??= Buffer.allocUnsafe(this.limit);
    const n = Math.min(room, chunk.length);
    chunk.copy(this.buf, this.kept, 0, n);
    this.kept += n;
  }

  /** The prefix as `limit` bytes at most (of a session that asked for fewer, its own cut). */
  body(limit = this.limit): TapBody | undefined {
    if (limit <= 0 || this.total === 0) return undefined;
    const n = Math.min(limit, this.kept);
    return {
      base64: this.buf === undefined ? '' : this.buf.subarray(0, n).toString('base64'),
      truncated: this.total > n,
    };
  }
}
