// The value patterns of Istio authorization policies, each compiled once into a test:
// - strings: exact, `prefix*`, `*suffix`, `*` (any non-empty value; Istio emits the regex `.+`);
//   a `*` anywhere else is a literal character, as in Istio;
// - paths: the same, plus Envoy path templates `{*}` (one segment) and `{**}` (any rest);
// - IPs: single addresses or CIDRs, IPv4 and IPv6, through node:net BlockList;
// - ports: decimal numbers 0..65535.
import { BlockList, isIP } from 'node:net';
import { re2 } from '../route/re2.ts';

export type StringTest = (value: string) => boolean;

const nonEmpty: StringTest = (s) => s.length > 0;
const present: StringTest = () => true;

export interface StringPatternOptions {
  /** Prepended to exact and prefix patterns (Istio's StringMatcherWithPrefix, e.g. "spiffe://"). */
  prefix?: string;
  ignoreCase?: boolean;
  /** `*` is a presence match (any value, even empty), as Istio's header and host matchers. */
  starIsPresence?: boolean;
}

/** Istio's string pattern as one test. */
export function stringPattern(pattern: string, opts: StringPatternOptions = {}): StringTest {
  const prefix = opts.prefix ?? '';
  const fold = opts.ignoreCase === true ? (s: string) => s.toLowerCase() : (s: string) => s;
  if (pattern === '*') return opts.starIsPresence === true ? present : nonEmpty;
  if (pattern.startsWith('*')) {
    const suffix = fold(pattern.slice(1));
    return (s) => fold(s).endsWith(suffix);
  }
  if (pattern.endsWith('*')) {
    const start = fold(prefix + pattern.slice(0, -1));
    return (s) => fold(s).startsWith(start);
  }
  const exact = fold(prefix + pattern);
  return (s) => fold(s) === exact;
}

/** Any of several tests. */
export function anyOf(tests: StringTest[]): StringTest {
  if (tests.length === 1) return tests[0] ?? (() => false);
  return (s) => {
    for (const t of tests) if (t(s)) return true;
    return false;
  };
}

// Istio's own validation (pkg/config/security): named variables, empty braces, bare `*` or `**`
// segments next to a template are refused.
const UNSUPPORTED_TEMPLATE = /\/\{\w+=\*\*?\}|\{\w*\}|\/\*\*?|\*\*?\//;

export function isPathTemplate(pattern: string): boolean {
  return pattern.includes('{*}') || pattern.includes('{**}');
}

/** A path pattern; throws (with a message for the policy's author) on an unsupported template. */
export function pathPattern(pattern: string): StringTest {
  if (!isPathTemplate(pattern)) return stringPattern(pattern);
  if (UNSUPPORTED_TEMPLATE.test(pattern))
    throw new Error(`invalid or unsupported path template "${pattern}"`);
  const re = pattern
    .split(/(\{\*\*\}|\{\*\})/)
    .map((part) => (part === '{**}' ? '.*' : part === '{*}' ? '[^/]+' : re2().quote(part)))
    .join('');
  const compiled = re2().compile(re);
  return (s) => compiled.testExact(s);
}

/** An RE2 pattern matched against the whole value (Trellis's `pathRegex`); throws when RE2 refuses it. */
export function regexPattern(pattern: string): StringTest {
  const compiled = re2().compile(pattern);
  return (s) => compiled.testExact(s);
}

/**
 * Istio's namespace match on the peer's SPIFFE ID: the regex `.*\/ns/<ns>/.*` where each `*` of the
 * pattern is `.*` and the rest is literal.
 */
export function namespacePattern(pattern: string): StringTest {
  const ns = pattern
    .split('*')
    .map((part) => re2().quote(part))
    .join('.*');
  const compiled = re2().compile(`.*/ns/${ns}/.*`);
  return (s) => compiled.testExact(s);
}

/** IP blocks, one list per family so that `::/0` never matches an IPv4 peer (as Envoy's CidrRange). */
export class IpSet {
  private readonly v4 = new BlockList();
  private readonly v6 = new BlockList();

  /** Throws with a message naming the bad entry. */
  constructor(blocks: readonly string[]) {
    for (const block of blocks) this.add(block);
  }

  private add(block: string): void {
    const slash = block.indexOf('/');
    const address = slash < 0 ? block : block.slice(0, slash);
    const family = isIP(address);
    if (family === 0) throw new Error(`bad IP address or CIDR "${block}"`);
    const max = family === 4 ? 32 : 128;
    let bits = max;
    if (slash >= 0) {
      const len = block.slice(slash + 1);
      if (!/^\d{1,3}$/.test(len) || Number(len) > max) throw new Error(`bad CIDR range "${block}"`);
      bits = Number(len);
    }
    if (family === 4) this.v4.addSubnet(address, bits, 'ipv4');
    else this.v6.addSubnet(address, bits, 'ipv6');
  }

  /** `ip` must be normalised (see normaliseIp). */
  has(ip: string): boolean {
    return isIP(ip) === 4 ? this.v4.check(ip, 'ipv4') : this.v6.check(ip, 'ipv6');
  }
}

/** Ports as Istio validates them: decimal, at most 65535; throws on anything else. */
export function parsePorts(values: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const v of values) {
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new Error(`bad port "${v}"`);
    out.add(Number(v));
  }
  return out;
}
