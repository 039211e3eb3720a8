// Virtual host selection by authority, built once per route table. See router.ts for the rules.

/** Largest number of distinct authorities remembered; the cache is emptied when it fills. */
const CACHE_LIMIT = 4096;
const NO_VHOST = -1;

/** The authority without its port ("[::1]:80" → "[::1]", "a:80" → "a"), or undefined if it has none. */
export function stripPort(authority: string): string | undefined {
  if (authority.charCodeAt(0) === 0x5b /* [ */) {
    const close = authority.indexOf(']');
    return close > 0 && authority.charCodeAt(close + 1) === 0x3a /* : */
      ? authority.slice(0, close + 1)
      : undefined;
  }
  const colon = authority.indexOf(':');
  // More than one colon without brackets is a bare IPv6 address, not host:port.
  if (colon < 0 || authority.indexOf(':', colon + 1) >= 0) return undefined;
  return authority.slice(0, colon);
}

function hasUpperCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

export class DomainIndex {
  private readonly exact = new Map<string, number>();
  // Wildcards sorted longest first; parallel arrays of the fixed part and the vhost index.
  private readonly suffixText: string[] = [];
  private readonly suffixVhost: number[] = [];
  private readonly prefixText: string[] = [];
  private readonly prefixVhost: number[] = [];
  private catchAll = NO_VHOST;
  private readonly cache = new Map<string, number>();

  /** `domains[i]` lists the (already validated) domains of virtual host i. First writer wins. */
  constructor(domains: readonly (readonly string[])[]) {
    const suffixes: [string, number][] = [];
    const prefixes: [string, number][] = [];
    domains.forEach((list, vhost) => {
      for (const raw of list) {
        const d = raw.toLowerCase();
        if (d === '*') {
          if (this.catchAll === NO_VHOST) this.catchAll = vhost;
        } else if (d.startsWith('*')) suffixes.push([d.slice(1), vhost]);
        else if (d.endsWith('*')) prefixes.push([d.slice(0, -1), vhost]);
        else if (!this.exact.has(d)) this.exact.set(d, vhost);
      }
    });
    // Stable sort keeps config order among equal lengths, so the first writer wins there too.
    suffixes.sort((a, b) => b[0].length - a[0].length);
    prefixes.sort((a, b) => b[0].length - a[0].length);
    for (const [text, vhost] of suffixes) {
      this.suffixText.push(text);
      this.suffixVhost.push(vhost);
    }
    for (const [text, vhost] of prefixes) {
      this.prefixText.push(text);
      this.prefixVhost.push(vhost);
    }
  }

  /** Index of the virtual host serving `authority`, or -1. */
  lookup(authority: string): number {
    const cached = this.cache.get(authority);
    if (cached !== undefined) return cached;
    const found = this.search(hasUpperCase(authority) ? authority.toLowerCase() : authority);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(authority, found);
    return found;
  }

  private search(host: string): number {
    const bare = stripPort(host);
    let v = this.exact.get(host);
    if (v === undefined && bare !== undefined) v = this.exact.get(bare);
    if (v !== undefined) return v;
    v = this.wildcard(host, bare, this.suffixText, this.suffixVhost, true);
    if (v !== NO_VHOST) return v;
    v = this.wildcard(host, bare, this.prefixText, this.prefixVhost, false);
    if (v !== NO_VHOST) return v;
    return this.catchAll;
  }

  /** Longest wildcard matching the authority with its port, else without it. */
  private wildcard(
    host: string,
    bare: string | undefined,
    texts: string[],
    vhosts: number[],
    suffix: boolean,
  ): number {
    for (let pass = 0; pass < 2; pass++) {
      const h = pass === 0 ? host : bare;
      if (h === undefined) break;
      for (let i = 0; i < texts.length; i++) {
        const t = texts[i]!;
        // The wildcard stands for at least one character, as in Envoy.
        if (h.length > t.length && (suffix ? h.endsWith(t) : h.startsWith(t))) return vhosts[i]!;
      }
    }
    return NO_VHOST;
  }
}
