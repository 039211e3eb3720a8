// The gRPC `grpc-timeout` request header (PROTOCOL-HTTP2.md): 1 to 8 ASCII digits and a unit,
// H M S (hours, minutes, seconds), m u n (milli-, micro-, nanoseconds). Units are case-sensitive:
// "M" is minutes, "m" milliseconds.
import type { HeaderList } from '../proxy/types.ts';

export const GRPC_TIMEOUT = 'grpc-timeout';

const MAX_VALUE = 99_999_999;
const MS_PER_UNIT: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** Milliseconds (possibly fractional) for a header value; undefined when it is malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const n = value.length;
  if (n < 2 || n > 9) return undefined;
  const perUnit = MS_PER_UNIT[value[n - 1]!];
  if (perUnit === undefined) return undefined;
  let digits = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    digits = digits * 10 + c;
  }
  return digits * perUnit;
}

/**
 * The header value for `ms` left. Rounded down, so the upstream never believes it has more time
 * than the proxy will wait; never below 1 µs (a zero timeout would mean "already expired").
 */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.floor(ms);
  if (whole < 1) return `${Math.max(1, Math.floor(ms * 1000))}u`;
  if (whole <= MAX_VALUE) return `${whole}m`;
  const s = Math.floor(ms / 1000);
  if (s <= MAX_VALUE) return `${s}S`;
  const m = Math.floor(ms / 60_000);
  if (m <= MAX_VALUE) return `${m}M`;
  return `${Math.min(MAX_VALUE, Math.floor(ms / 3_600_000))}H`;
}

/** The first value of header `name` (lower-case) in a flat header list. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** A copy of `headers` with every `name` replaced by one `name: value`. */
export function withHeader(headers: HeaderList, name: string, value: string): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] !== name) out.push(headers[i]!, headers[i + 1]!);
  }
  out.push(name, value);
  return out;
}
