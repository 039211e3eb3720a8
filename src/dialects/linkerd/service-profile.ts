// ServiceProfile → the routes of the service it is named after: each route's condition as
// matches, isRetryable as retries bounded by the profile's retry budget (and by the route's
// timeout, 10 s unless given, as in Linkerd), dstOverrides as the weighted backends of every
// route; requests no route matches still reach the service, as Linkerd forwards them.
import type { HeaderMatch, RouteMatch } from '../../model/schema.ts';
import { serviceKey, type ServiceId } from '../../resources/catalog.ts';
import { kubeServiceOfHost, serviceRef } from '../common/hosts.ts';
import type { LowerContext, Origin, RouteCandidate, RouteInput, Warn } from '../common/lowering.ts';
import { routeName } from '../common/names.ts';
import { integerWeights } from '../common/quantity.ts';
import type { ProfileRoute, RequestMatch, ResponseMatch, ServiceProfileResource } from './schema.ts';

type MatchInput = Partial<RouteMatch>;

/** Linkerd's route timeout when a route gives none. */
export const LINKERD_DEFAULT_TIMEOUT_MS = 10_000;

/** AND of two matches; null when nothing matches both (disjoint methods), undefined when the model cannot say it (two paths). */
function both(a: MatchInput, b: MatchInput): MatchInput | null | undefined {
  if (a.path !== undefined && b.path !== undefined) return undefined;
  let methods = a.methods ?? b.methods;
  if (a.methods !== undefined && b.methods !== undefined) {
    methods = a.methods.filter((m) => b.methods!.includes(m));
    if (methods.length === 0) return null;
  }
  const headers = [...(a.headers ?? []), ...(b.headers ?? [])];
  return {
    ...((a.path ?? b.path) ? { path: a.path ?? b.path } : {}),
    ...(methods === undefined ? {} : { methods }),
    ...(headers.length > 0 ? { headers } : {}),
  };
}

/** A condition as an OR of matches (disjunctive form); undefined when it cannot be expressed. */
export function lowerCondition(c: RequestMatch): MatchInput[] | undefined {
  let alternatives: MatchInput[] = [{}];
  const and = (next: MatchInput[] | undefined): boolean => {
    if (next === undefined) return false;
    const out: MatchInput[] = [];
    for (const a of alternatives)
      for (const b of next) {
        const ab = both(a, b);
        if (ab === undefined) return false;
        if (ab !== null) out.push(ab);
      }
    alternatives = out;
    return true;
  };
  // Linkerd anchors pathRegex at both ends, as the model's full match does.
  if (c.pathRegex !== undefined && !and([{ path: { regex: c.pathRegex } }])) return undefined;
  if (c.method !== undefined && !and([{ methods: [c.method.toUpperCase()] }])) return undefined;
  for (const sub of c.all ?? []) if (!and(lowerCondition(sub))) return undefined;
  if (c.any !== undefined) {
    const any: MatchInput[] = [];
    for (const sub of c.any) {
      const m = lowerCondition(sub);
      if (m === undefined) return undefined;
      any.push(...m);
    }
    if (!and(any)) return undefined;
  }
  if (c.not !== undefined) {
    // Only "not method X" has a model form: an inverted :method test.
    const n = c.not;
    const onlyMethod = n.method !== undefined && n.pathRegex === undefined && !n.all && !n.any && !n.not;
    if (!onlyMethod) return undefined;
    const h: HeaderMatch = { name: ':method', exact: n.method!.toUpperCase(), invert: true };
    if (!and([{ headers: [h] }])) return undefined;
  }
  return alternatives;
}

function responseMatches(c: ResponseMatch, status: number): boolean {
  if (c.status !== undefined && (status < (c.status.min ?? 100) || status > (c.status.max ?? 599)))
    return false;
  if (c.all !== undefined && !c.all.every((s) => responseMatches(s, status))) return false;
  if (c.any !== undefined && !c.any.some((s) => responseMatches(s, status))) return false;
  if (c.not !== undefined && responseMatches(c.not, status)) return false;
  return true;
}

/** The statuses Linkerd counts as failures: the first class that matches decides, else 5xx fails. */
export function failureStatuses(classes: NonNullable<ProfileRoute['responseClasses']>): number[] {
  const out: number[] = [];
  for (let s = 100; s <= 599; s++) {
    const cls = classes.find((c) => responseMatches(c.condition, s));
    if (cls === undefined ? s >= 500 : cls.isFailure) out.push(s);
  }
  return out;
}

function lowerRetries(p: ServiceProfileResource, r: ProfileRoute): RouteInput['retries'] {
  const failures = failureStatuses(r.responseClasses ?? []);
  const all5xx = failures.length === 100 && failures[0] === 500 && failures[99] === 599;
  const budget = p.spec.retryBudget;
  return {
    // Linkerd retries as long as the budget and the timeout allow: the model's maximum count.
    attempts: 10,
    retryOn: [
      'connect-failure',
      'refused-stream',
      ...(all5xx ? (['5xx'] as const) : failures.length > 0 ? (['retriable-status-codes'] as const) : []),
    ],
    ...(all5xx || failures.length === 0 ? {} : { retriableStatusCodes: failures }),
    ...(budget === undefined
      ? {}
      : {
          budget: {
            ratio: budget.retryRatio,
            minRetriesPerSecond: budget.minRetriesPerSecond,
            ttl: budget.ttl,
          },
        }),
    // isRetryable: "always safe to retry"; Linkerd never retries requests with bodies.
    retryNonIdempotent: true,
    maxReplayBytes: 0,
  };
}

function backendsOf(
  p: ServiceProfileResource,
  id: ServiceId,
  warn: Warn,
): NonNullable<RouteInput['backends']> {
  const overrides = p.spec.dstOverrides ?? [];
  if (overrides.length === 0) return [{ service: serviceRef(id), weight: 1 }];
  const weights = integerWeights(overrides.map((o) => o.weight));
  return overrides.flatMap((o, i) => {
    // authority: "name.ns.svc.cluster.local:port"; the port picks nothing here (one cluster per service).
    const host = o.authority.replace(/:\d+$/, '');
    const target = kubeServiceOfHost(host, p.metadata.namespace, true);
    if (target === undefined) {
      warn(
        `spec.dstOverrides[${i}].authority`,
        `"${o.authority}" is not a service of the mesh; dropped`,
        'host-not-found',
      );
      return [];
    }
    return [{ service: serviceRef(target), weight: weights[i]! }];
  });
}

export function lowerServiceProfile(
  p: ServiceProfileResource,
  ctx: LowerContext,
): RouteCandidate | undefined {
  const warn: Warn = (path, message, code) => ctx.warnings.warn(p, path, message, code);
  const id = kubeServiceOfHost(p.metadata.name, p.metadata.namespace, true);
  if (id === undefined) {
    warn(
      'metadata.name',
      'name a ServiceProfile after its service: "<service>.<namespace>.svc.cluster.local"',
    );
    return undefined;
  }
  if (!ctx.catalog.has(serviceKey(id)))
    warn('metadata.name', `service "${serviceKey(id)}" does not exist (yet)`, 'host-not-found');
  if (p.spec.opaquePorts !== undefined)
    warn('spec.opaquePorts', 'not supported: declare tcp ports on the Service');
  const backends = backendsOf(p, id, warn);
  if (backends.length === 0) return undefined;
  const routes: RouteInput[] = [];
  const origins: Origin[] = [];
  p.spec.routes.forEach((r, i) => {
    const path = `spec.routes[${i}]`;
    const matches = lowerCondition(r.condition);
    if (matches === undefined || matches.length === 0) {
      warn(
        `${path}.condition`,
        'this condition cannot be expressed (two paths ANDed, or a "not" other than of a method); route dropped',
      );
      return;
    }
    if (r.responseClasses !== undefined && !r.isRetryable)
      warn(
        `${path}.responseClasses`,
        'response classes only decide what is retried here (no per-route metrics); unused as the route is not retryable',
      );
    const name = routeName(r.name);
    const route: RouteInput = {
      ...(name === undefined ? {} : { name }),
      match: matches.length === 1 ? matches[0] : matches,
      backends,
      timeout: r.timeout ?? LINKERD_DEFAULT_TIMEOUT_MS,
    };
    if (r.isRetryable) route.retries = lowerRetries(p, r);
    routes.push(route);
    origins.push({ resource: p, path });
  });
  if (p.spec.retryBudget !== undefined && !p.spec.routes.some((r) => r.isRetryable))
    warn('spec.retryBudget', 'no route is retryable: the budget is unused');
  // Linkerd forwards what no route matches to the service (or its dstOverrides).
  routes.push({ name: 'default', backends });
  origins.push({ resource: p, path: 'spec' });
  return { dialect: 'linkerd', service: id, sources: [p], routes, origins };
}
