// Problems between resources that are warnings, not errors: resources are applied one at a time
// and in any order, so a route may name a service that registers later.
import { buildServiceCatalog, byTargetService, resolveServiceRef, serviceKey } from './catalog.ts';
import type {
  AnyResource,
  Resource,
  ServiceResource,
  TrafficPolicyResource,
  TrafficRouteResource,
  WorkloadResource,
} from './kinds.ts';
import { resourceKey } from './kinds.ts';

export interface ResourceWarning {
  /** resourceKey() of the resource concerned. */
  resource: string;
  /** Path inside the resource, e.g. "spec.routes[0].backends[1].service". */
  path: string;
  message: string;
}

type SetCheck = (resources: readonly AnyResource[]) => ResourceWarning[];
const setChecks: SetCheck[] = [];

/** Adds a check over the whole set (src/dialects: how other meshes' kinds lower, and their conflicts). */
export function registerSetCheck(check: SetCheck): void {
  setChecks.push(check);
}

export function validateResourceSet(resources: readonly AnyResource[]): ResourceWarning[] {
  const services: ServiceResource[] = [];
  const workloads: WorkloadResource[] = [];
  const routes: TrafficRouteResource[] = [];
  const policies: TrafficPolicyResource[] = [];
  for (const r of resources) {
    if (r.kind === 'Service') services.push(r);
    else if (r.kind === 'Workload') workloads.push(r);
    else if (r.kind === 'TrafficRoute') routes.push(r);
    else if (r.kind === 'TrafficPolicy') policies.push(r);
  }
  const catalog = buildServiceCatalog(services, workloads);
  const warnings: ResourceWarning[] = [];
  const warn = (r: Resource, path: string, message: string): number =>
    warnings.push({ resource: resourceKey(r), path, message });

  for (const svc of services) {
    if (svc.spec.selector === undefined || Object.keys(svc.spec.selector).length === 0)
      warn(svc, 'spec.selector', 'no selector: this Service selects no workloads');
  }
  for (const [kind, items] of [
    ['TrafficRoute', routes],
    ['TrafficPolicy', policies],
  ] as const) {
    for (const [key, { winner, ignored }] of byTargetService<TrafficRouteResource | TrafficPolicyResource>(
      items,
    )) {
      if (!catalog.has(key)) warn(winner, 'spec.service', `service "${key}" does not exist (yet)`);
      const first = `${winner.metadata.namespace}/${winner.metadata.name}`;
      for (const r of ignored)
        warn(r, 'spec.service', `ignored: ${kind} ${first} also applies to service "${key}" and sorts first`);
    }
  }
  for (const r of routes) {
    r.spec.routes.forEach((route, ri) =>
      route.backends.forEach((b, bi) => {
        const key = serviceKey(resolveServiceRef(b.service, r.metadata.namespace));
        if (!catalog.has(key))
          warn(
            r,
            `spec.routes[${ri}].backends[${bi}].service`,
            `service "${key}" does not exist (yet): requests sent to it fail with 503 until it does`,
          );
      }),
    );
  }
  for (const check of setChecks) warnings.push(...check(resources));
  // Stable: a resource's warnings keep the order they were found in.
  return warnings.sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
}
