// How the internal model's routing reads in words: matches, weighted backends, timeouts, retries.
// Field names follow src/model/schema.ts and src/model/policy.ts; durations there are milliseconds.
import type { RouteMatchView, ServiceRouteView } from '../../types.ts';

/** "3 s", "250 ms", "1.5 s", "2 min". */
export function duration(msValue: number): string {
  if (msValue === 0) return 'none';
  if (msValue >= 60_000 && msValue % 60_000 === 0) return `${msValue / 60_000} min`;
  if (msValue >= 1000) return `${+(msValue / 1000).toFixed(3)} s`;
  return `${msValue} ms`;
}

function stringMatch(m: { exact?: string; prefix?: string; suffix?: string; regex?: string }): string {
  if (m.exact !== undefined) return `= ${m.exact}`;
  if (m.prefix !== undefined) return `starts with ${m.prefix}`;
  if (m.suffix !== undefined) return `ends with ${m.suffix}`;
  if (m.regex !== undefined) return `matches /${m.regex}/`;
  return 'any';
}

/** One match as a phrase: "path starts with /api, header end-user = jason". */
export function matchText(m: RouteMatchView): string {
  const parts: string[] = [];
  if (m.path !== undefined) parts.push(`path ${stringMatch(m.path)}`);
  if (m.methods !== undefined && m.methods.length > 0) parts.push(`method ${m.methods.join(' or ')}`);
  for (const h of m.headers ?? []) {
    const what = h.present === true ? 'present' : h.present === false ? 'absent' : stringMatch(h);
    parts.push(`${h.invert === true ? 'not ' : ''}header ${h.name} ${what}`);
  }
  for (const q of m.query ?? []) {
    const what = q.present === true ? 'present' : q.present === false ? 'absent' : stringMatch(q);
    parts.push(`query ${q.name} ${what}`);
  }
  return parts.length === 0 ? 'every request' : parts.join(', ');
}

/** The route's matches, any of which selects it. */
export function matchesText(match: ServiceRouteView['match']): string {
  if (match === undefined) return 'every request';
  const list = Array.isArray(match) ? match : [match];
  if (list.length === 0) return 'every request';
  return list.map(matchText).join(' — or — ');
}

export interface BackendShare {
  service: string;
  weight: number;
  /** weight / sum of the route's weights, 0..1 (0 when every weight is 0). */
  share: number;
}

/** 0.9 → "90%", 1/3 → "33.3%". */
export function sharePercent(share: number): string {
  const p = share * 100;
  return `${Number.isInteger(Math.round(p * 10) / 10) ? p.toFixed(0) : p.toFixed(1)}%`;
}

export function backendShares(route: ServiceRouteView): BackendShare[] {
  const total = route.backends.reduce((sum, b) => sum + b.weight, 0);
  return route.backends.map((b) => ({ ...b, share: total > 0 ? b.weight / total : 0 }));
}

/** A route splits traffic when more than one backend gets a share. */
export function isSplit(route: ServiceRouteView): boolean {
  return route.backends.filter((b) => b.weight > 0).length > 1;
}

export function retriesText(r: ServiceRouteView['retries']): string | undefined {
  if (r === undefined) return undefined;
  if (r.attempts === 0) return 'off';
  const on = [...(r.retryOn ?? []), ...(r.retriableStatusCodes ?? []).map(String)];
  const perTry = r.perTryTimeout !== undefined ? `, ${duration(r.perTryTimeout)} per try` : '';
  return `${r.attempts} ${r.attempts === 1 ? 'retry' : 'retries'}${on.length > 0 ? ` on ${on.join(', ')}` : ''}${perTry}`;
}

/** Fields of a rule shown on their own lines; the rest are listed as they are. */
export const ROUTE_FIELDS_SHOWN = new Set(['name', 'match', 'backends', 'timeout', 'retries']);

/**
 * The resources an internal resource was lowered from: its `trellis.io/lowered-from` annotation lists
 * them as `Kind ns/name` joined by ", " (src/dialects/common/lowering.ts); `Kind/ns/name` is read too.
 * Without the annotation a resource is its own source.
 */
export const SOURCE_ANNOTATION = 'trellis.io/lowered-from';
export interface SourceRef {
  kind: string;
  namespace: string;
  name: string;
}
export function sourcesOf(r: {
  kind: string;
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
}): { lowered: boolean; sources: SourceRef[] } {
  const annotation = r.metadata.annotations?.[SOURCE_ANNOTATION];
  if (annotation === undefined || annotation.trim() === '')
    return {
      lowered: false,
      sources: [{ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name }],
    };
  const sources: SourceRef[] = [];
  for (const part of annotation.split(',')) {
    const m = /^\s*([A-Za-z]+)[\s/]+([^/\s]+)\/([^/\s]+)\s*$/.exec(part);
    if (m !== null) sources.push({ kind: m[1]!, namespace: m[2]!, name: m[3]! });
  }
  return { lowered: true, sources };
}

// Keys whose numbers are durations in the model (milliseconds): timeout, perTryTimeout, interval,
// baseEjectionTime, ttl, fixedDelay, idleTimeout, maxAge…, and a backoff's base and max.
const DURATION_KEY = /(timeout|interval|time|ttl|delay|duration|age)$/i;

/** A setting in one line, durations in words: `{consecutive5xx: 5, interval: 10 s}`. */
export function readable(value: unknown, key = '', parent = ''): string {
  if (typeof value === 'number')
    return DURATION_KEY.test(key) || (parent === 'backoff' && (key === 'base' || key === 'max'))
      ? duration(value)
      : String(value);
  if (Array.isArray(value)) return `[${value.map((v) => readable(v, '', key)).join(', ')}]`;
  if (typeof value === 'object' && value !== null)
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}: ${readable(v, k, key)}`)
      .join(', ')}}`;
  return String(value);
}
