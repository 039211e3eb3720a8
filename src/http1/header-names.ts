// The header names most requests and responses carry, matched on the parser's bytes (any case)
// and returned as one shared lower-case string: no slice and no toLowerCase per header.
const COMMON = [
  'accept',
  'accept-encoding',
  'accept-language',
  'authorization',
  'cache-control',
  'connection',
  'content-encoding',
  'content-length',
  'content-type',
  'cookie',
  'date',
  'etag',
  'grpc-encoding',
  'grpc-message',
  'grpc-status',
  'host',
  'keep-alive',
  'last-modified',
  'location',
  'server',
  'set-cookie',
  'te',
  'traceparent',
  'tracestate',
  'transfer-encoding',
  'user-agent',
  'vary',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
];

interface Known {
  name: string;
  bytes: Uint8Array;
}

/** By length; names of one length are few, so a linear scan is the fastest lookup. */
const BY_LENGTH: Known[][] = [];
for (const name of COMMON) (BY_LENGTH[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1') });

const A = 0x41;
const Z = 0x5a;

/** The shared lower-case string for buf[start, end) when it is a common name, else undefined. */
export function commonHeaderName(buf: Uint8Array, start: number, end: number): string | undefined {
  const candidates = BY_LENGTH[end - start];
  if (candidates === undefined) return undefined;
  next: for (const k of candidates) {
    const bytes = k.bytes;
    for (let i = 0; i < bytes.length; i++) {
      let c = buf[start + i]!;
      if (c >= A && c <= Z) c |= 0x20; // ASCII upper → lower; every other byte must match as is
      if (c !== bytes[i]) continue next;
    }
    return k.name;
  }
  return undefined;
}
