// What every dialect's lowering produces, and how it becomes native resources: candidates for
// the routes, policies and services of the mesh, each remembering the resources it came from, so
// precedence can pick one per service and every warning names the resource the user wrote.
import type { z } from 'zod';
import type { MeshService, ServiceId } from '../../resources/catalog.ts';
import { serviceKey } from '../../resources/catalog.ts';
import {
  resourceKey,
  ServiceResource,
  TrafficPolicyResource,
  TrafficRouteResource,
  type ServiceRoute,
} from '../../resources/kinds.ts';
import type { ResourceWarning } from '../../resources/validate.ts';
import { validateRouteTables } from '../../route/router.ts';
import type { DialectResource } from '../types.ts';
import { syntheticLabel } from './names.ts';

export type Dialect = 'gateway' | 'istio' | 'smi' | 'linkerd';

/** Which dialect wins a service when several route it (native resources beat them all). */
export const DIALECT_ORDER: readonly Dialect[] = ['gateway', 'istio', 'smi', 'linkerd'];

export type RouteInput = z.input<typeof ServiceRoute>;

/** What a warning is about; `trellis analyze` counts the first three as errors. */
export type FindingCode = 'host-not-found' | 'subset-not-found' | 'weights' | 'conflict' | 'lowering';
export type Warn = (path: string, message: string, code?: FindingCode) => void;

export interface DialectWarning extends ResourceWarning {
  code: FindingCode;
}
export type PolicySpecInput = z.input<typeof TrafficPolicyResource>['spec'];

export interface RouteCandidate {
  dialect: Dialect;
  service: ServiceId;
  /** The resources lowered into these routes; the first names the lowered TrafficRoute. */
  sources: DialectResource[];
  routes: RouteInput[];
  /** Where each route came from (e.g. VirtualService default/reviews, "spec.http[2]"). */
  origins: Origin[];
}

export interface Origin {
  resource: DialectResource;
  path: string;
}

export interface PolicyCandidate {
  dialect: Dialect;
  service: ServiceId;
  sources: DialectResource[];
  spec: Omit<PolicySpecInput, 'service'>;
  /** Where the policy came from in sources[0]. */
  path: string;
}

export interface ServiceCandidate {
  source: DialectResource;
  service: ServiceResource;
}

export const SOURCE_ANNOTATION = 'trellis.io/lowered-from';

export function sourceName(r: DialectResource): string {
  return `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;
}

export function byNamespaceName(a: DialectResource, b: DialectResource): number {
  const x = `${a.metadata.namespace}/${a.metadata.name}`;
  const y = `${b.metadata.namespace}/${b.metadata.name}`;
  return x < y ? -1 : x > y ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
}

/** Warnings, each once, in the order found. */
export class Warnings {
  readonly list: DialectWarning[] = [];
  private readonly seen = new Set<string>();

  warn(r: DialectResource, path: string, message: string, code: FindingCode = 'lowering'): void {
    const w = { resource: resourceKey(r), path, message, code };
    const key = `${w.resource}\n${w.path}\n${w.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push(w);
  }
}

/** What a dialect's lowering sees of the mesh: the services stored, and where to report problems. */
export interface LowerContext {
  catalog: ReadonlyMap<string, MeshService>;
  warnings: Warnings;
}

function annotations(sources: DialectResource[]): Record<string, string> {
  return { [SOURCE_ANNOTATION]: sources.map(sourceName).join(', ') };
}

/** The issues of a failed native parse, as one line. */
function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** The native TrafficRoute of a candidate, or undefined (with a warning) when the model refuses it. */
export function buildTrafficRoute(c: RouteCandidate, warnings: Warnings): TrafficRouteResource | undefined {
  const first = c.sources[0]!;
  const parsed = TrafficRouteResource.safeParse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'TrafficRoute',
    metadata: {
      name: syntheticLabel(first.metadata.name),
      namespace: first.metadata.namespace,
      annotations: annotations(c.sources),
    },
    spec: { service: `${c.service.name}.${c.service.namespace}`, routes: c.routes },
  });
  if (!parsed.success) {
    warnings.warn(first, 'spec', `cannot lower routes for ${serviceKey(c.service)}: ${issues(parsed.error)}`);
    return undefined;
  }
  // What the proxy's route compiler would refuse (conflicting matchers): never pushed.
  const routes = parsed.data.spec.routes.map((r) => ({
    ...r,
    backends: r.backends.map((b) => ({ cluster: 'check', weight: b.weight })),
    mirrors: undefined,
  }));
  const problems = validateRouteTables([
    { name: 'check', virtualHosts: [{ name: 'check', domains: ['check.invalid'], routes }] },
  ]);
  if (problems.length > 0) {
    const what = problems.map((p) => `${p.path.slice(4).join('.')}: ${p.message}`).join('; ');
    warnings.warn(first, 'spec', `cannot lower routes for ${serviceKey(c.service)}: ${what}`);
    return undefined;
  }
  return parsed.data;
}

export function buildTrafficPolicy(
  c: PolicyCandidate,
  warnings: Warnings,
): TrafficPolicyResource | undefined {
  const first = c.sources[0]!;
  const parsed = TrafficPolicyResource.safeParse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: {
      name: syntheticLabel(first.metadata.name),
      namespace: first.metadata.namespace,
      annotations: annotations(c.sources),
    },
    spec: { service: `${c.service.name}.${c.service.namespace}`, ...c.spec },
  });
  if (!parsed.success) {
    warnings.warn(
      first,
      'spec',
      `cannot lower the policy of ${serviceKey(c.service)}: ${issues(parsed.error)}`,
    );
    return undefined;
  }
  return parsed.data;
}

export function buildService(
  source: DialectResource,
  id: ServiceId,
  spec: z.input<typeof ServiceResource>['spec'],
  warnings: Warnings,
  labels: Record<string, string> = {},
): ServiceCandidate | undefined {
  const parsed = ServiceResource.safeParse({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: id.name, namespace: id.namespace, labels, annotations: annotations([source]) },
    spec,
  });
  if (!parsed.success) {
    warnings.warn(source, 'spec', `cannot synthesize Service ${serviceKey(id)}: ${issues(parsed.error)}`);
    return undefined;
  }
  return { source, service: parsed.data };
}
