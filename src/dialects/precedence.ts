// One route set and one policy per service, whatever the order things were applied in:
// native resources > Gateway API > Istio > SMI > Linkerd; within a dialect the resource whose
// namespace/name sorts first (Gateway API merges all routes attached to a Service instead).
// Everything set aside is reported.
import { byTargetService, serviceKey } from '../resources/catalog.ts';
import type { TrafficPolicyResource, TrafficRouteResource } from '../resources/kinds.ts';
import {
  buildTrafficPolicy,
  buildTrafficRoute,
  byNamespaceName,
  DIALECT_ORDER,
  sourceName,
  type PolicyCandidate,
  type RouteCandidate,
  type Warnings,
} from './common/lowering.ts';

export const PRECEDENCE_RULE = 'native > Gateway API > Istio > SMI > Linkerd, then namespace/name';

type Candidate = RouteCandidate | PolicyCandidate;

function grouped<C extends Candidate>(candidates: readonly C[]): [string, C[]][] {
  const by = new Map<string, C[]>();
  for (const c of candidates) {
    const key = serviceKey(c.service);
    const list = by.get(key);
    if (list) list.push(c);
    else by.set(key, [c]);
  }
  const rank = (c: C): number => DIALECT_ORDER.indexOf(c.dialect);
  return [...by]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, list]) => [
      key,
      list.sort((a, b) => rank(a) - rank(b) || byNamespaceName(a.sources[0]!, b.sources[0]!)),
    ]);
}

/** Warns every resource of the candidate's own kind (not the route groups it read). */
function setAside(c: Candidate, message: string, warnings: Warnings): void {
  const kind = c.sources[0]!.kind;
  for (const s of c.sources) if (s.kind === kind) warnings.warn(s, 'spec', message, 'conflict');
}

function pick<C extends Candidate, N extends TrafficRouteResource | TrafficPolicyResource>(
  native: readonly N[],
  candidates: readonly C[],
  build: (c: C) => N | undefined,
  what: string,
  warnings: Warnings,
): [N, C][] {
  const nativeBy = byTargetService(native);
  const out: [N, C][] = [];
  for (const [key, list] of grouped(candidates)) {
    const nat = nativeBy.get(key)?.winner;
    if (nat !== undefined) {
      const by = `${nat.kind} ${nat.metadata.namespace}/${nat.metadata.name}`;
      for (const c of list)
        setAside(c, `ignored for ${key}: ${by} sets its ${what} (precedence: ${PRECEDENCE_RULE})`, warnings);
      continue;
    }
    let winner: C | undefined;
    for (const c of list) {
      if (winner !== undefined) {
        const by = sourceName(winner.sources[0]!);
        setAside(c, `ignored for ${key}: ${by} sets its ${what} (precedence: ${PRECEDENCE_RULE})`, warnings);
        continue;
      }
      const built = build(c);
      if (built === undefined) continue;
      winner = c;
      out.push([built, c]);
    }
  }
  return out;
}

export function pickRoutes(
  native: readonly TrafficRouteResource[],
  candidates: readonly RouteCandidate[],
  warnings: Warnings,
): [TrafficRouteResource, RouteCandidate][] {
  return pick(native, candidates, (c) => buildTrafficRoute(c, warnings), 'routes', warnings);
}

export function pickPolicies(
  native: readonly TrafficPolicyResource[],
  candidates: readonly PolicyCandidate[],
  warnings: Warnings,
): [TrafficPolicyResource, PolicyCandidate][] {
  return pick(native, candidates, (c) => buildTrafficPolicy(c, warnings), 'policy', warnings);
}
