// A header mutation (Istio's Headers.request / .response: set, add, remove) compiled once per
// route. Applied as Envoy applies it: the removals first, then `set` (replacing every value of the
// name) and `add` (appending one more value). Names compare lower-case. Headers the proxy itself
// owns (framing, hop-by-hop, pseudo-headers) cannot be changed; validatePolicies refuses them.
import type { HeaderMutation } from '../model/policy.ts';
import type { HeaderList } from '../proxy/types.ts';

/** Headers a mutation may not touch: the proxy frames messages and drops hop-by-hop headers itself. */
export function isProtectedHeader(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'te':
    case 'trailer':
    case 'content-length':
    case 'http2-settings':
      return true;
    default:
      return name.charCodeAt(0) === 58 /* ':' */ && name !== ':authority';
  }
}

/** `host` / `:authority` name the request authority, which travels apart from the header list. */
export function isAuthorityHeader(name: string): boolean {
  return name === 'host' || name === ':authority';
}

export class HeaderMutator {
  /** Names whose existing values go: removed ones and set ones. */
  private readonly dropped: ReadonlySet<string>;
  /** set pairs, then add pairs. */
  private readonly appended: readonly string[];
  /** The authority a `set`/`add` of host or :authority asks for (request side only). */
  readonly authority: string | undefined;

  constructor(m: HeaderMutation) {
    const dropped = new Set<string>();
    const appended: string[] = [];
    let authority: string | undefined;
    for (const raw of m.remove) {
      const name = raw.toLowerCase();
      if (!isProtectedHeader(name) && !isAuthorityHeader(name)) dropped.add(name);
    }
    for (const [raw, value] of Object.entries(m.set)) {
      const name = raw.toLowerCase();
      if (isAuthorityHeader(name)) authority = value;
      else if (!isProtectedHeader(name)) {
        dropped.add(name);
        appended.push(name, value);
      }
    }
    for (const [raw, value] of Object.entries(m.add)) {
      const name = raw.toLowerCase();
      if (isAuthorityHeader(name)) authority ??= value;
      else if (!isProtectedHeader(name)) appended.push(name, value);
    }
    this.dropped = dropped;
    this.appended = appended;
    this.authority = authority;
  }

  /** True when the header list is left as it is (the mutation only names the authority, or nothing). */
  get empty(): boolean {
    return this.dropped.size === 0 && this.appended.length === 0;
  }

  /** A new list: `headers` minus the dropped names, plus the set and added values. */
  apply(headers: HeaderList): HeaderList {
    const dropped = this.dropped;
    const out: HeaderList = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      if (dropped.size > 0 && dropped.has(name)) continue;
      out.push(name, headers[i + 1]!);
    }
    const appended = this.appended;
    for (let i = 0; i < appended.length; i++) out.push(appended[i]!);
    return out;
  }
}
