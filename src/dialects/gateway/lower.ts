// Gateway API routes attached to Services (GAMMA) → one route candidate per Service: the matches
// of every HTTPRoute attached to it, merged and ordered by the spec's precedence, ties broken by
// route namespace/name (the spec's "oldest first" needs creation times a store does not keep),
// then rule and match order. HTTPRoutes and GRPCRoutes are never merged: HTTPRoutes win.
import { serviceKey, type ServiceId } from '../../resources/catalog.ts';
import type { LowerContext, Origin, RouteCandidate } from '../common/lowering.ts';
import { byNamespaceName } from '../common/lowering.ts';
import type { DialectResource } from '../types.ts';
import { serviceParents, type Warn } from './refs.ts';
import { grpcRuleEntries, httpRuleEntries, type Entry } from './rules.ts';
import type { GRPCRouteResource, HTTPRouteResource } from './schema.ts';

interface Attached {
  id: ServiceId;
  sources: DialectResource[];
  entries: { entry: Entry; order: number[]; origin: Origin }[];
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function attach<R extends HTTPRouteResource | GRPCRouteResource>(
  routes: readonly R[],
  ctx: LowerContext,
  entriesOf: (rule: R['spec']['rules'][number], path: string, r: R, parent: ServiceId, warn: Warn) => Entry[],
): Map<string, Attached> {
  const out = new Map<string, Attached>();
  [...routes].sort(byNamespaceName).forEach((r, routeIndex) => {
    const warn: Warn = (path, message, code) => ctx.warnings.warn(r, path, message, code);
    if (r.spec.hostnames !== undefined && r.spec.hostnames.length > 0)
      warn('spec.hostnames', 'ignored for Service parents: the route applies to the Service names');
    for (const parent of serviceParents(r.spec.parentRefs, r.metadata.namespace, warn)) {
      const key = serviceKey(parent);
      if (!ctx.catalog.has(key))
        warn('spec.parentRefs', `service "${key}" does not exist (yet)`, 'host-not-found');
      let a = out.get(key);
      if (a === undefined) out.set(key, (a = { id: parent, sources: [], entries: [] }));
      a.sources.push(r);
      r.spec.rules.forEach((rule, ri) =>
        entriesOf(rule, `spec.rules[${ri}]`, r, parent, warn).forEach((entry, ei) =>
          a.entries.push({
            entry,
            order: [routeIndex, ri, ei],
            origin: { resource: r, path: `spec.rules[${ri}]` },
          }),
        ),
      );
    }
  });
  return out;
}

function candidate(a: Attached): RouteCandidate | undefined {
  const sorted = [...a.entries].sort(
    (x, y) => compareRanks(x.entry.rank, y.entry.rank) || compareRanks(x.order, y.order),
  );
  if (sorted.length === 0) return undefined;
  return {
    dialect: 'gateway',
    service: a.id,
    sources: a.sources,
    routes: sorted.map((e) => e.entry.route),
    origins: sorted.map((e) => e.origin),
  };
}

export function lowerGatewayRoutes(
  http: readonly HTTPRouteResource[],
  grpc: readonly GRPCRouteResource[],
  ctx: LowerContext,
): RouteCandidate[] {
  const httpBy = attach(http, ctx, (rule, path, r, parent, warn) =>
    httpRuleEntries(rule, path, r.metadata.namespace, parent, ctx, warn),
  );
  const grpcBy = attach(grpc, ctx, (rule, path, r, parent, warn) =>
    grpcRuleEntries(rule, path, r.metadata.namespace, parent, ctx, warn),
  );
  const out: RouteCandidate[] = [];
  for (const [key, a] of httpBy) {
    const c = candidate(a);
    if (c !== undefined) out.push(c);
    for (const g of grpcBy.get(key)?.sources ?? [])
      ctx.warnings.warn(
        g,
        'spec.parentRefs',
        `ignored for ${key}: HTTPRoutes attach to it too, and HTTPRoute and GRPCRoute rules are never merged (HTTPRoutes win)`,
        'conflict',
      );
  }
  for (const [key, a] of grpcBy) {
    if (httpBy.has(key)) continue;
    const c = candidate(a);
    if (c !== undefined) out.push(c);
  }
  return out;
}
