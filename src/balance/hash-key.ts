// The hash key of a request for ring_hash / maglev: a header value, a cookie value, or the source IP.
import type { HashKey } from '../model/schema.ts';
import type { HeaderList } from '../proxy/types.ts';

/** The request's hash key for `spec`; undefined when the request does not carry it. */
export function hashKeyFor(spec: HashKey, headers: HeaderList, sourceAddress: string): string | undefined {
  if (spec.header !== undefined) return firstHeader(headers, spec.header.toLowerCase());
  if (spec.cookie !== undefined) return cookieValue(headers, spec.cookie);
  if (spec.sourceIp === true) return sourceAddress === '' ? undefined : unmapIpv4(sourceAddress);
  return undefined;
}

function firstHeader(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** Value of cookie `name` across every Cookie header (HTTP/2 may split them), first one wins. */
export function cookieValue(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const value = findCookie(headers[i + 1]!, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** Scans "a=1; b=2" for `name` without splitting; strips one pair of surrounding quotes (RFC 6265). */
function findCookie(header: string, name: string): string | undefined {
  const len = header.length;
  let pos = 0;
  while (pos < len) {
    while (pos < len && (header.charCodeAt(pos) === 0x20 || header.charCodeAt(pos) === 0x09)) pos++;
    let end = header.indexOf(';', pos);
    if (end === -1) end = len;
    if (header.startsWith(name, pos) && header.charCodeAt(pos + name.length) === 0x3d /* = */) {
      let start = pos + name.length + 1;
      let stop = end;
      while (stop > start && (header.charCodeAt(stop - 1) === 0x20 || header.charCodeAt(stop - 1) === 0x09))
        stop--;
      if (stop - start >= 2 && header.charCodeAt(start) === 0x22 && header.charCodeAt(stop - 1) === 0x22) {
        start++;
        stop--;
      }
      return header.slice(start, stop);
    }
    pos = end + 1;
  }
  return undefined;
}

/** "::ffff:10.0.0.1" (an IPv4 client on a dual-stack socket) hashes as "10.0.0.1". */
function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.', 7) ? address.slice(7) : address;
}
