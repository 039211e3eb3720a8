// How each attribute a policy names is read from a request, and how it is shown in `authz explain`.
import type { RequestView } from './attributes.ts';
import type { Reader } from './checks.ts';

const SPIFFE = 'spiffe://';

/** A SPIFFE ID as policies write it: `td/ns/x/sa/y`. */
export function stripSpiffe(id: string): string {
  return id.startsWith(SPIFFE) ? id.slice(SPIFFE.length) : id;
}

/** The peer's SPIFFE ID, matched with `spiffe://` in front of the pattern (as Istio's matcher). */
export const peerPrincipal: Reader = {
  read: (req) => req.peerPrincipal(),
  show: stripSpiffe,
  absent: '(no peer identity: plaintext)',
};

/** The namespace segment of the peer's SPIFFE ID (shown; the match runs on the whole ID). */
export const peerNamespace: Reader = {
  read: (req) => req.peerPrincipal(),
  show: (id) => {
    const m = /\/ns\/([^/]+)\//.exec(id);
    return m === null ? `${stripSpiffe(id)} (no namespace)` : `namespace ${m[1] ?? ''}`;
  },
  absent: '(no peer identity: plaintext)',
};

export const method: Reader = { read: (req) => req.attrs.http?.method, absent: '(not HTTP)' };

export const path: Reader = { read: (req) => req.path(), absent: '(not HTTP)' };

export const sni: Reader = {
  // No SNI is an empty name to Envoy's requested_server_name matcher: nothing but an exact "" matches.
  read: (req) => req.attrs.sni ?? '',
  show: (v) => (v === '' ? '(no SNI)' : v),
  absent: '(no SNI)',
};

/** Hosts match the authority as sent, port included, case-insensitively (Envoy `:authority`). */
export const host: Reader = {
  read: (req) => req.attrs.http?.authority,
  absent: '(not HTTP)',
  hint: (authority, patterns) => {
    const colon = authority.lastIndexOf(':');
    if (colon < 0 || authority.endsWith(']')) return '';
    const bare = authority.slice(0, colon).toLowerCase();
    if (!patterns.some((p) => p.toLowerCase() === bare)) return '';
    return ` (hosts match the authority with its port, as Istio: add "${authority.slice(0, colon)}:*")`;
  },
};

export function header(name: string): Reader {
  return { read: (req) => req.header(name), absent: `(no ${name} header)` };
}

export function claim(path: readonly string[], label: string): Reader {
  return { read: (req: RequestView) => req.claim(path), absent: `(no ${label} claim)` };
}
