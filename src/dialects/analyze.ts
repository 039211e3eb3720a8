// `trellis analyze`: problems in a set of resources before they bite, as `istioctl analyze`
// finds them, whatever dialect they are written in. Errors: a route to a subset no
// DestinationRule defines, Istio weights that do not add up to 100, a host or service that
// names nothing. Warnings: a route no request can reach (an earlier route catches everything), a
// policy or Sidecar selecting no workload, and whatever else lowering had to set aside.
import {
  buildServiceCatalog,
  resolveServiceRef,
  serviceKey,
  type MeshService,
} from '../resources/catalog.ts';
import { resourceKey, type AnyResource, type TrafficRouteResource } from '../resources/kinds.ts';
import { validateResourceSet } from '../resources/validate.ts';
import type { RouteMatch } from '../model/schema.ts';
import type { FindingCode, Origin } from './common/lowering.ts';
import {
  inScope,
  labelsMatch,
  selectorLabels,
  workloadIdentity,
  type WorkloadIdentity,
} from './common/selector.ts';
import { DEFAULT_ROOT_NAMESPACE, lowerMeshState, splitResources, type DialectResource } from './index.ts';

export type Severity = 'error' | 'warning';

export interface Finding {
  severity: Severity;
  code: FindingCode | 'shadowed-route' | 'no-workloads' | 'unknown-field' | 'native';
  /** resourceKey() of the resource as written. */
  resource: string;
  path: string;
  message: string;
}

const ERRORS: ReadonlySet<string> = new Set(['host-not-found', 'subset-not-found', 'weights']);

function catchesAll(m: RouteMatch | RouteMatch[] | undefined): boolean {
  if (m === undefined) return true;
  const list = Array.isArray(m) ? m : [m];
  if (list.length === 0) return true;
  return list.some(
    (x) =>
      (x.path === undefined || x.path.prefix === '/' || x.path.regex === '.*' || x.path.regex === '/.*') &&
      (x.methods === undefined || x.methods.length === 0) &&
      x.headers.length === 0 &&
      x.query.length === 0,
  );
}

function shadowed(route: TrafficRouteResource, origins: Origin[] | undefined): Finding[] {
  const routes = route.spec.routes;
  const first = routes.findIndex((r) => catchesAll(r.match));
  if (first < 0) return [];
  const where = (i: number): { resource: string; path: string } =>
    origins === undefined
      ? { resource: resourceKey(route), path: `spec.routes[${i}]` }
      : { resource: resourceKey(origins[i]!.resource), path: origins[i]!.path };
  const out: Finding[] = [];
  for (let j = first + 1; j < routes.length; j++) {
    // A route added by lowering itself (the fallback after an SMI split or Linkerd routes) is not the user's.
    if (origins !== undefined && origins[j]!.path === origins[first]!.path) continue;
    const by = where(first);
    out.push({
      severity: 'warning',
      code: 'shadowed-route',
      ...where(j),
      message: `unreachable: the route at ${by.path} before it matches every request`,
    });
  }
  return out;
}

function hasWorkloads(svc: MeshService | undefined): boolean {
  return svc !== undefined && svc.workloads.length > 0;
}

/** Security policies and Telemetry with a selector (or TrafficTarget destination) that no workload answers to. */
function idleSecurityPolicies(
  dialects: readonly DialectResource[],
  workloads: WorkloadIdentity[],
): Finding[] {
  const out: Finding[] = [];
  const idle = (r: DialectResource, path: string, message: string): number =>
    out.push({ severity: 'warning', code: 'no-workloads', resource: resourceKey(r), path, message });
  for (const r of dialects) {
    if (r.kind === 'TrafficTarget') {
      const ns = r.spec.destination.namespace ?? r.metadata.namespace;
      const sa = r.spec.destination.name;
      if (!workloads.some((w) => w.namespace === ns && w.serviceAccount === sa))
        idle(r, 'spec.destination', `no workload runs as service account ${ns}/${sa}`);
      continue;
    }
    if (r.kind === 'Telemetry') {
      // Workload-level Telemetry selects in its own namespace only, the root namespace included.
      const selector = selectorLabels(r.spec.selector);
      const ns = r.metadata.namespace;
      if (
        selector !== undefined &&
        !workloads.some((w) => w.namespace === ns && labelsMatch(selector, w.labels))
      )
        idle(r, 'spec.selector', 'selects no workload');
      continue;
    }
    if (
      r.kind !== 'PeerAuthentication' &&
      r.kind !== 'AuthorizationPolicy' &&
      r.kind !== 'RequestAuthentication'
    )
      continue;
    const selector = selectorLabels(r.spec.selector);
    if (selector === undefined) continue;
    const scope = { namespace: r.metadata.namespace, selector };
    if (!workloads.some((w) => inScope(scope, w, DEFAULT_ROOT_NAMESPACE)))
      idle(r, 'spec.selector', 'selects no workload');
  }
  return out;
}

export function analyzeResources(resources: readonly AnyResource[]): Finding[] {
  const parts = splitResources(resources);
  const lowered = lowerMeshState(parts);
  const { state } = lowered;
  const findings: Finding[] = lowered.warnings.map((w) => ({
    severity: ERRORS.has(w.code) ? 'error' : 'warning',
    code: w.code,
    resource: w.resource,
    path: w.path,
    message: w.message,
  }));
  const catalog = buildServiceCatalog(state.services, state.workloads);
  const external = new Set(lowered.externals.map((e) => serviceKey(e.service)));
  // Native routes naming services that do not exist.
  for (const r of parts.routes) {
    const ns = r.metadata.namespace;
    const check = (ref: string, path: string): void => {
      const key = serviceKey(resolveServiceRef(ref, ns));
      if (!catalog.has(key))
        findings.push({
          severity: 'error',
          code: 'host-not-found',
          resource: resourceKey(r),
          path,
          message: `service "${key}" does not exist`,
        });
    };
    check(r.spec.service, 'spec.service');
    r.spec.routes.forEach((rt, i) =>
      rt.backends.forEach((b, bi) => check(b.service, `spec.routes[${i}].backends[${bi}].service`)),
    );
  }
  for (const r of state.routes) findings.push(...shadowed(r, lowered.routeOrigins.get(r)));
  for (const p of state.policies) {
    const key = serviceKey(resolveServiceRef(p.spec.service, p.metadata.namespace));
    if (external.has(key) || hasWorkloads(catalog.get(key))) continue;
    const origin = lowered.policyOrigins.get(p);
    findings.push({
      severity: 'warning',
      code: 'no-workloads',
      resource: origin === undefined ? resourceKey(p) : resourceKey(origin.resource),
      path: origin === undefined ? 'spec.service' : origin.path,
      message: `the policy of ${key} selects no workload`,
    });
  }
  for (const rule of lowered.scopes) {
    if (rule.selector === undefined) continue;
    const selector = rule.selector;
    const any = state.workloads.some(
      (w) =>
        w.metadata.namespace === rule.namespace &&
        Object.entries(selector).every(([k, v]) => (w.metadata.labels as Record<string, string>)[k] === v),
    );
    if (!any) {
      const [ns, name] = rule.source.split('/');
      findings.push({
        severity: 'warning',
        code: 'no-workloads',
        resource: `resources/Sidecar/${ns}/${name}`,
        path: 'spec.workloadSelector',
        message: 'selects no workload',
      });
    }
  }
  findings.push(...idleSecurityPolicies(parts.dialects, state.workloads.map(workloadIdentity)));
  // The native checks, where they say something the ones above do not.
  const seen = new Set(findings.map((f) => `${f.resource}\n${f.path}`));
  for (const w of validateResourceSet(resources)) {
    if (seen.has(`${w.resource}\n${w.path}`)) continue;
    seen.add(`${w.resource}\n${w.path}`);
    findings.push({
      severity: 'warning',
      code: 'native',
      resource: w.resource,
      path: w.path,
      message: w.message,
    });
  }
  const rank = (f: Finding): number => (f.severity === 'error' ? 0 : 1);
  return findings.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
}
