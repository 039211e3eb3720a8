// Where a JWT rule looks for tokens, as Envoy's jwt_authn extractor does: the headers and query
// parameters the rule names, else `Authorization: Bearer <token>` and `?access_token=<token>`.
import type { JwtRule } from '../model/security.ts';

export type TokenLocation =
  | { kind: 'header'; name: string; prefix: string; ignoreCasePrefix: boolean }
  | { kind: 'param'; name: string };

export interface FoundToken {
  token: string;
  location: TokenLocation;
  /** Identifies the location across rules (rules sharing a location share its tokens). */
  key: string;
}

export function locationKey(l: TokenLocation): string {
  return l.kind === 'header' ? `header:${l.name}:${l.prefix}` : `param:${l.name}`;
}

const DEFAULT_LOCATIONS: TokenLocation[] = [
  // RFC 7235: the auth-scheme is case-insensitive.
  { kind: 'header', name: 'authorization', prefix: 'Bearer ', ignoreCasePrefix: true },
  { kind: 'param', name: 'access_token' },
];

/** The locations of one rule. */
export function ruleLocations(rule: JwtRule): TokenLocation[] {
  const headers = rule.fromHeaders ?? [];
  const params = rule.fromParams ?? [];
  if (headers.length === 0 && params.length === 0) return DEFAULT_LOCATIONS;
  return [
    ...headers.map((h): TokenLocation => ({
      kind: 'header',
      name: h.name.toLowerCase(),
      prefix: h.prefix ?? '',
      ignoreCasePrefix: false,
    })),
    ...params.map((name): TokenLocation => ({ kind: 'param', name })),
  ];
}

// The characters of a compact JWS (base64url and dots); Envoy stops the token at the first other one.
const TOKEN = /^[A-Za-z0-9\-_.=+/]+/;

function tokenAfterPrefix(value: string, l: Extract<TokenLocation, { kind: 'header' }>): string | undefined {
  let v = value.trimStart();
  if (l.prefix !== '') {
    const head = v.slice(0, l.prefix.length);
    const same = l.ignoreCasePrefix ? head.toLowerCase() === l.prefix.toLowerCase() : head === l.prefix;
    if (!same) return undefined;
    v = v.slice(l.prefix.length).trimStart();
  }
  const m = TOKEN.exec(v);
  return m === null ? undefined : m[0];
}

function queryParams(path: string): [string, string][] {
  const q = path.indexOf('?');
  if (q < 0) return [];
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  const out: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replaceAll('+', ' '));
      } catch {
        return s;
      }
    };
    out.push(eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))]);
  }
  return out;
}

/** Every token found at any of `locations` (each location once), in the order of the locations. */
export function findTokens(
  locations: readonly TokenLocation[],
  headers: readonly string[],
  path: string,
): FoundToken[] {
  const found: FoundToken[] = [];
  let params: [string, string][] | undefined;
  for (const location of locations) {
    const key = locationKey(location);
    if (location.kind === 'header') {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        if (headers[i] !== location.name) continue;
        const token = tokenAfterPrefix(headers[i + 1] ?? '', location);
        if (token !== undefined) found.push({ token, location, key });
      }
    } else {
      params ??= queryParams(path);
      for (const [name, value] of params) {
        const token = name === location.name ? TOKEN.exec(value.trim())?.[0] : undefined;
        if (token !== undefined) found.push({ token, location, key });
      }
    }
  }
  return found;
}
