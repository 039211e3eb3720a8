// Finds every traffic split in force and what stands behind each backend. A split is a rule of the
// TrafficRoute in force for a service (describe's `route`) with more than one weighted backend. Each
// backend is a Service (reviews-v2, or a subset's reviews--v2); the versions behind it are those of
// the workloads it selects (its describe endpoints), and their golden metrics are their deployments'
// (`<app>-<version>`). Reloaded every `refreshMs`: config changes rarely, live stats come from the
// mesh event instead.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from '../../api.ts';
import type {
  ResourceObject,
  ResourceRef,
  ServiceDescription,
  ServiceRouteView,
  TrafficRouteObject,
  WorkloadObject,
} from '../../types.ts';
import { backendShares, isSplit, matchesText } from '../service/route-text.ts';
import { versionsOf, type VersionRef } from '../service/versions.ts';
import { candidateServices, ROUTING_KINDS, serviceOfHost } from './find-splits.ts';

export interface SplitBackend {
  /** As the route names it: `reviews-v2`, `reviews--v2.default`, … */
  service: string;
  ref: ResourceRef;
  weight: number;
  /** Configured: weight / the rule's total, 0..1. */
  share: number;
  versions: VersionRef[];
  /** No such service: requests sent to it fail (503). */
  missing: boolean;
}
export interface SplitRule {
  index: number;
  name: string | undefined;
  when: string;
  backends: SplitBackend[];
}
export interface Split extends ResourceRef {
  route: TrafficRouteObject;
  rules: SplitRule[];
  /** Rules of the same route that send everything to one backend (e.g. a header match to v2). */
  others: { name: string; when: string; to: string[] }[];
}

const describePath = (r: ResourceRef): string =>
  `/api/v1/services/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}`;
const key = (r: ResourceRef): string => `${r.namespace}/${r.name}`;

async function describeOrUndefined(
  r: ResourceRef,
  signal: AbortSignal,
): Promise<ServiceDescription | undefined> {
  try {
    return await getJson<ServiceDescription>(describePath(r), signal);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

function ruleLabel(rule: ServiceRouteView, index: number): string {
  return rule.name ?? `rule ${index + 1}`;
}

export async function loadSplits(signal: AbortSignal): Promise<Split[]> {
  const lists = await Promise.allSettled(
    ROUTING_KINDS.map((k) => getJson<{ items: ResourceObject[] }>(`/api/v1/resources/${k}`, signal)),
  );
  const native = lists[0];
  if (native?.status === 'rejected') throw native.reason;
  // Other meshes' kinds are optional: one that fails to list just adds no candidates.
  const resources = lists.flatMap((l) => (l.status === 'fulfilled' ? l.value.items : []));
  const candidates = candidateServices(resources);
  const described = await Promise.all(candidates.map((c) => describeOrUndefined(c, signal)));
  const splitting = described.filter(
    (d): d is ServiceDescription & { route: TrafficRouteObject } =>
      d?.route !== undefined && d.route.spec.routes.some(isSplit),
  );

  const backendRefs = new Map<string, ResourceRef>();
  for (const d of splitting)
    for (const rule of d.route.spec.routes)
      for (const b of rule.backends) {
        const ref = serviceOfHost(b.service, d.route.metadata.namespace);
        if (ref !== undefined) backendRefs.set(key(ref), ref);
      }
  const namespaces = [...new Set([...backendRefs.values()].map((r) => r.namespace))];
  const [backendDescriptions, workloadLists] = await Promise.all([
    Promise.all([...backendRefs.values()].map((r) => describeOrUndefined(r, signal))),
    Promise.all(
      namespaces.map((ns) =>
        getJson<{ items: WorkloadObject[] }>(
          `/api/v1/resources/Workload?namespace=${encodeURIComponent(ns)}`,
          signal,
        ),
      ),
    ),
  ]);
  const backends = new Map([...backendRefs.keys()].map((k, i) => [k, backendDescriptions[i]]));
  const workloads = workloadLists.flatMap((l) => l.items);

  return splitting.map((d) => {
    const routeNs = d.route.metadata.namespace;
    const backendOf = (service: string, weight: number, share: number): SplitBackend => {
      const ref = serviceOfHost(service, routeNs) ?? { namespace: routeNs, name: service };
      const described = backends.get(key(ref));
      return {
        service,
        ref,
        weight,
        share,
        // The app of a backend's versions is the split service's: what `trellis run` registers.
        versions: described === undefined ? [] : versionsOf(described.endpoints, workloads, d.name),
        missing: described === undefined,
      };
    };
    const routes = d.route.spec.routes;
    return {
      namespace: d.namespace,
      name: d.name,
      route: d.route,
      rules: routes.flatMap((rule, index) =>
        isSplit(rule)
          ? [
              {
                index,
                name: rule.name,
                when: matchesText(rule.match),
                backends: backendShares(rule).map((b) => backendOf(b.service, b.weight, b.share)),
              },
            ]
          : [],
      ),
      others: routes
        .map((rule, index) => ({ rule, index }))
        .filter(({ rule }) => !isSplit(rule))
        .map(({ rule, index }) => ({
          name: ruleLabel(rule, index),
          when: matchesText(rule.match),
          to: rule.backends.filter((b) => b.weight > 0).map((b) => b.service),
        })),
    };
  });
}

export function useSplits(refreshMs: number): {
  splits: Split[] | undefined;
  error: ApiError | undefined;
} {
  const [splits, setSplits] = useState<Split[] | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const abort = new AbortController();
    loadSplits(abort.signal).then(
      (s) => {
        setSplits(s);
        setError(undefined);
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError('TRELLIS_CLIENT', 0, String(err)));
      },
    );
    const timer = setTimeout(() => setTick((t) => t + 1), refreshMs);
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [tick, refreshMs]);
  return { splits, error };
}
