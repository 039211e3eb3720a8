// One check per field of a rule (`principals`, `notPaths`, one `when` condition's values, …), as
// Istio lowers a rule into Envoy RBAC: the values of a field are ORed, its `not` form is the
// negation of the OR, and every field of a source or operation must hold.
import type { RequestView } from './attributes.ts';
import { anyOf, IpSet, namespacePattern, parsePorts, stringPattern } from './patterns.ts';
import type { StringTest } from './patterns.ts';
import * as readers from './readers.ts';

export interface Check {
  /** Where it is in the policy: "from[0].source.principals", "when[1] request.headers[x-user]". */
  readonly field: string;
  /** Reads what only HTTP carries (methods, paths, JWT, headers): a TCP connection has none of it. */
  readonly httpOnly: boolean;
  test(req: RequestView): boolean;
  /** Why `test` failed, for `authz explain`: "from[0].source.principals: a/ns/b/sa/c not in [...]". */
  why(req: RequestView): string;
}

/** A value, or several (list claims); undefined when the attribute is absent. */
export type Values = string | readonly string[] | undefined;

/** How a check reads its attribute. */
export interface Reader {
  read(req: RequestView): Values;
  /** The value as an operator reads it (a principal without `spiffe://`). */
  show?(value: string): string;
  /** Shown when the attribute is absent, e.g. "(no peer identity: plaintext)". */
  absent: string;
  /** An extra word on a mismatch, e.g. that hosts are matched with their port. */
  hint?(value: string, patterns: readonly string[]): string;
}

interface CheckSpec {
  field: string;
  httpOnly: boolean;
  negate: boolean;
  patterns: readonly string[];
  matches(req: RequestView): boolean;
  describe(req: RequestView): string;
  hint?(req: RequestView): string;
}

function makeCheck(spec: CheckSpec): Check {
  const { field, negate, patterns, matches } = spec;
  const list = `[${patterns.join(', ')}]`;
  return {
    field,
    httpOnly: spec.httpOnly,
    test: negate ? (req) => !matches(req) : matches,
    why: (req) =>
      `${field}: ${spec.describe(req)} ${negate ? 'matches excluded' : 'not in'} ${list}${spec.hint?.(req) ?? ''}`,
  };
}

/** A field and its `not` form as a policy gives them (either may be absent). */
export interface FieldPair {
  field: string;
  notField: string;
  values: readonly string[] | undefined;
  notValues: readonly string[] | undefined;
}

/** Builds the check of one field from its patterns; throws when a pattern is unusable. */
export type CheckBuilder = (field: string, negate: boolean, patterns: readonly string[]) => Check;

/** Told of an unusable pattern, with the field that holds it. */
export type ReportField = (field: string, message: string) => void;

/** The checks of a field and of its `not` form, each only when given. */
export function checksOf(pair: FieldPair, build: CheckBuilder, report: ReportField): Check[] {
  const out: Check[] = [];
  const add = (field: string, negate: boolean, patterns: readonly string[] | undefined) => {
    if (patterns === undefined || patterns.length === 0) return;
    try {
      out.push(build(field, negate, patterns));
    } catch (err) {
      report(field, err instanceof Error ? err.message : String(err));
    }
  };
  add(pair.field, false, pair.values);
  add(pair.notField, true, pair.notValues);
  return out;
}

/** String values: the attribute is present and one of its values matches one of the patterns. */
export function stringCheck(
  httpOnly: boolean,
  compile: (pattern: string) => StringTest,
  reader: Reader,
): CheckBuilder {
  const show = reader.show ?? ((v: string) => v);
  return (field, negate, patterns) => {
    const test = anyOf(patterns.map(compile));
    const matches = (req: RequestView): boolean => {
      const values = reader.read(req);
      if (values === undefined) return false;
      if (typeof values === 'string') return test(values);
      for (const v of values) if (test(v)) return true;
      return false;
    };
    const describe = (req: RequestView): string => {
      const values = reader.read(req);
      if (values === undefined) return reader.absent;
      if (typeof values === 'string') return show(values);
      return `[${values.map(show).join(', ')}]`;
    };
    const spec: CheckSpec = { field, httpOnly, negate, patterns, matches, describe };
    const hint = reader.hint;
    if (hint !== undefined) {
      spec.hint = (req) => {
        const values = reader.read(req);
        return typeof values === 'string' ? hint(values, patterns) : '';
      };
    }
    return makeCheck(spec);
  };
}

/** IP blocks against one address of the request; throws on a bad CIDR. */
export function ipCheck(read: (req: RequestView) => string | undefined, absent: string): CheckBuilder {
  return (field, negate, blocks) => {
    const set = new IpSet(blocks);
    return makeCheck({
      field,
      httpOnly: false,
      negate,
      patterns: blocks,
      matches: (req) => {
        const ip = read(req);
        return ip !== undefined && set.has(ip);
      },
      describe: (req) => read(req) ?? absent,
    });
  };
}

/** Destination ports; throws on a value that is not a port. */
export const portCheck: CheckBuilder = (field, negate, ports) => {
  const set = parsePorts(ports);
  return makeCheck({
    field,
    httpOnly: false,
    negate,
    patterns: ports,
    matches: (req) => set.has(req.attrs.destination.port),
    describe: (req) => `port ${req.attrs.destination.port}`,
  });
};

/**
 * Istio's request principal `<iss>/<sub>` patterns, matched against the JWT's `iss` and `sub`
 * claims separately (split at the last "/", since issuers are often URLs): `*` any; `*` + "/sub";
 * "iss/" + `*`; `*suffix`; `prefix*`; exact (pilot/pkg/security/authz/model/generator.go).
 */
export function requestPrincipalTest(pattern: string): (iss: string, sub: string) => boolean {
  const any = (s: string): boolean => s.length > 0;
  const slash = pattern.lastIndexOf('/');
  const found = slash >= 0;
  const iss = found ? pattern.slice(0, slash) : pattern;
  const sub = found ? pattern.slice(slash + 1) : '';
  if (pattern === '*') return (i, s) => any(i) && any(s);
  if (pattern.startsWith('*')) {
    if (!found) {
      const suffix = pattern.slice(1);
      return (i, s) => any(i) && s.endsWith(suffix);
    }
    const issSuffix = iss.slice(1);
    return (i, s) => (iss === '*' ? any(i) : i.endsWith(issSuffix)) && s === sub;
  }
  if (pattern.endsWith('*')) {
    if (!found) {
      const prefix = pattern.slice(0, -1);
      return (i, s) => i.startsWith(prefix) && any(s);
    }
    const subPrefix = sub.slice(0, -1);
    return (i, s) => i === iss && (sub === '*' ? any(s) : s.startsWith(subPrefix));
  }
  return (i, s) => i === iss && s === sub;
}

/** Request principals (`iss/sub` of the verified JWT): HTTP only. */
export const requestPrincipalCheck: CheckBuilder = (field, negate, patterns) => {
  const tests = patterns.map(requestPrincipalTest);
  return makeCheck({
    field,
    httpOnly: true,
    negate,
    patterns,
    matches: (req) => {
      const is = req.jwtIssuerSubject();
      if (is === undefined) return false;
      for (const t of tests) if (t(is.iss, is.sub)) return true;
      return false;
    },
    describe: (req) => {
      const is = req.jwtIssuerSubject();
      return is === undefined ? '(no request principal: no valid JWT)' : `${is.iss}/${is.sub}`;
    },
  });
};

// The checks both a source field and a `when` key make (ipBlocks and source.ip, …).
export const peerIpCheck = ipCheck((req) => req.sourceIp(), '(no peer address)');
export const clientIpCheck = ipCheck((req) => req.remoteIp(), '(no client address)');
export const peerPrincipalCheck = stringCheck(
  false,
  (p) => stringPattern(p, { prefix: 'spiffe://' }),
  readers.peerPrincipal,
);
export const peerNamespaceCheck = stringCheck(false, namespacePattern, readers.peerNamespace);
