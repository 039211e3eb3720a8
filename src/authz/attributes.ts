// What an authorization check reads from a request or connection, and the values derived from it
// (path without query, original client address, JWT issuer and subject) computed once per check.
import { isIP } from 'node:net';

export interface RequestAttributes {
  /** The peer: its address, and its SPIFFE ID (`spiffe://td/ns/x/sa/y`) when it spoke mTLS. */
  source: { address: string; port?: number; principal?: string };
  destination: { address?: string; port: number };
  /** Server name the client asked for in its TLS ClientHello. */
  sni?: string;
  /** Absent on a TCP connection: HTTP-only fields cannot be read. */
  http?: {
    method: string;
    authority: string;
    /** May include `?query`; matching uses the path alone. */
    path: string;
    /** Flat list: name0, value0, name1, value1, …; names lower-case. */
    headers: string[];
  };
  /** A verified JWT: principal `iss/sub` and the token's claims. */
  auth?: { principal: string; claims: Record<string, unknown> };
}

/** Istio (Envoy's NormalizePayload) treats these claims as space-separated lists when matching. */
const SPACE_DELIMITED_CLAIMS = new Set(['scope', 'permission']);

/** A normalised IP (IPv4-mapped IPv6 as plain IPv4), or undefined when it is not an IP. */
export function normaliseIp(raw: string): string | undefined {
  let s = raw.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped !== null) s = mapped[1] ?? s;
  return isIP(s) === 0 ? undefined : s;
}

/** A request as the matchers read it; derived values are computed on first use only. */
export class RequestView {
  readonly attrs: RequestAttributes;
  private pathCache: string | undefined;
  private remoteIpCache: string | null | undefined;
  private sourceIpCache: string | null | undefined;

  constructor(attrs: RequestAttributes) {
    this.attrs = attrs;
  }

  get isHttp(): boolean {
    return this.attrs.http !== undefined;
  }

  /** The path without query string and fragment (what Envoy's path matcher sees). */
  path(): string | undefined {
    const http = this.attrs.http;
    if (http === undefined) return undefined;
    if (this.pathCache === undefined) {
      const raw = http.path;
      let end = raw.length;
      const q = raw.indexOf('?');
      if (q >= 0) end = q;
      const h = raw.indexOf('#');
      if (h >= 0 && h < end) end = h;
      this.pathCache = raw.slice(0, end);
    }
    return this.pathCache;
  }

  /** All values of a header joined by "," as Envoy's header matcher sees them; undefined when absent. */
  header(name: string): string | undefined {
    const headers = this.attrs.http?.headers;
    if (headers === undefined) return undefined;
    let out: string | undefined;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (headers[i] !== name) continue;
      const v = headers[i + 1] ?? '';
      out = out === undefined ? v : `${out},${v}`;
    }
    return out;
  }

  /** The peer address (Envoy's direct remote address). */
  sourceIp(): string | undefined {
    if (this.sourceIpCache === undefined) this.sourceIpCache = normaliseIp(this.attrs.source.address) ?? null;
    return this.sourceIpCache ?? undefined;
  }

  /** The original client: the first X-Forwarded-For entry, else the peer address. */
  remoteIp(): string | undefined {
    if (this.remoteIpCache === undefined) {
      const xff = this.header('x-forwarded-for');
      if (xff !== undefined) {
        const comma = xff.indexOf(',');
        this.remoteIpCache = normaliseIp(comma < 0 ? xff : xff.slice(0, comma)) ?? null;
      } else {
        this.remoteIpCache = this.sourceIp() ?? null;
      }
    }
    return this.remoteIpCache ?? undefined;
  }

  destinationIp(): string | undefined {
    const a = this.attrs.destination.address;
    return a === undefined ? undefined : normaliseIp(a);
  }

  /** The peer's SPIFFE ID as presented (`spiffe://…`); undefined on plaintext. */
  peerPrincipal(): string | undefined {
    const p = this.attrs.source.principal;
    return p === undefined || p === '' ? undefined : p;
  }

  /** The JWT's issuer and subject: the claims when they are strings, else split from the principal. */
  jwtIssuerSubject(): { iss: string; sub: string } | undefined {
    const auth = this.attrs.auth;
    if (auth === undefined) return undefined;
    const { iss, sub } = auth.claims;
    // A missing claim is an empty string: no pattern, not even "*", matches it (as Envoy's metadata matcher).
    if (typeof iss === 'string') return { iss, sub: typeof sub === 'string' ? sub : '' };
    const slash = auth.principal.lastIndexOf('/');
    if (slash < 0) return { iss: auth.principal, sub: '' };
    return { iss: auth.principal.slice(0, slash), sub: auth.principal.slice(slash + 1) };
  }

  /**
   * The string values of a (nested) claim: a string is one value, an array gives its string
   * elements, anything else none (Envoy's string matchers never match numbers or booleans).
   */
  claim(path: readonly string[]): string[] | undefined {
    let v: unknown = this.attrs.auth?.claims;
    for (const key of path) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
      v = (v as Record<string, unknown>)[key];
    }
    if (typeof v === 'string') {
      if (path.length === 1 && SPACE_DELIMITED_CLAIMS.has(path[0] ?? '')) return v.split(' ').filter(Boolean);
      return [v];
    }
    if (Array.isArray(v)) return v.filter((e): e is string => typeof e === 'string');
    return undefined;
  }
}
