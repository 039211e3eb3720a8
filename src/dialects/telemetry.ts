// The telemetry of one workload (metrics, tracing, access logs) from Istio's Telemetry kind. Pure
// and deterministic like security.ts: resources are sorted before use. Scope is Istio's for
// Telemetry, which differs from the security kinds' in one point: only a resource without
// selector is mesh-wide in the root namespace; one with a selector there selects the root
// namespace's own workloads (Istio looks for workload-level Telemetry in the workload's namespace).
// Precedence: workload > namespace > mesh, merged field by field (istio/telemetry.ts).
import { TELEMETRY_DEFAULTS, type TelemetryConfig } from '../model/telemetry.ts';
import type { WorkloadResource } from '../resources/kinds.ts';
import { byNamespaceName, Warnings, type DialectWarning } from './common/lowering.ts';
import { workloadIdentity, type WorkloadIdentity } from './common/selector.ts';
import { policyScope, scopeIncludes, type PolicyScope } from './istio/authorization.ts';
import {
  checkTelemetry,
  mergeTelemetry,
  type TelemetryDefaults,
  type TelemetryOrigin,
} from './istio/telemetry.ts';
import type { TelemetryResource } from './istio/telemetry-schema.ts';
import { DEFAULT_ROOT_NAMESPACE } from './security.ts';
import type { DialectResource } from './types.ts';

export type { TelemetryDefaults, TelemetryOrigin };

export interface WorkloadTelemetry {
  telemetry: TelemetryConfig;
  /** Which resource set each field that is not the default. */
  origins: TelemetryOrigin[];
}

export interface PreparedTelemetry {
  forWorkload(w: WorkloadIdentity): WorkloadTelemetry;
}

interface Scoped {
  r: TelemetryResource;
  scope: PolicyScope;
}

function key(r: TelemetryResource): string {
  return `${r.metadata.namespace}/${r.metadata.name}`;
}

function isWide(scope: PolicyScope): boolean {
  return scope.kind === 'selector' && scope.selector === undefined;
}

function prepare(
  resources: readonly DialectResource[],
  defaults: TelemetryDefaults,
  warnings: Warnings,
): PreparedTelemetry & { selecting: (w: WorkloadIdentity) => TelemetryResource[] } {
  const root = defaults.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const sorted = resources
    .filter((r): r is TelemetryResource => r.kind === 'Telemetry')
    .sort(byNamespaceName);
  /** The namespace-wide resource of each namespace (the root namespace's is mesh-wide). */
  const wide = new Map<string, TelemetryResource>();
  const selecting = new Map<string, Scoped[]>();
  for (const r of sorted) {
    checkTelemetry(r, warnings);
    const scope = policyScope(r, warnings);
    const ns = r.metadata.namespace;
    if (isWide(scope)) {
      const first = wide.get(ns);
      if (first === undefined) wide.set(ns, r);
      else
        warnings.warn(
          r,
          'spec',
          `ignored: Telemetry ${key(first)} is ${ns === root ? 'mesh' : 'namespace'}-wide too and sorts first (Istio allows one per namespace and keeps the oldest; creation times are not stored, so the first by namespace/name wins)`,
          'conflict',
        );
      continue;
    }
    if (ns === root && scope.kind === 'selector')
      warnings.warn(
        r,
        'spec.selector',
        `selects workloads of ${root} only: in the root namespace a Telemetry is mesh-wide without a selector (as in Istio)`,
      );
    const list = selecting.get(ns) ?? [];
    list.push({ r, scope });
    selecting.set(ns, list);
  }
  const selectingOf = (w: WorkloadIdentity): TelemetryResource[] =>
    (selecting.get(w.namespace) ?? []).filter((s) => scopeIncludes(s.scope, w, root)).map((s) => s.r);
  const forWorkload = (w: WorkloadIdentity): WorkloadTelemetry => {
    const layers: TelemetryResource[] = [];
    const mesh = wide.get(root);
    if (mesh !== undefined) layers.push(mesh);
    const namespace = w.namespace === root ? undefined : wide.get(w.namespace);
    if (namespace !== undefined) layers.push(namespace);
    layers.push(...selectingOf(w));
    if (layers.length === 0) return { telemetry: TELEMETRY_DEFAULTS, origins: [] };
    return mergeTelemetry(layers, TELEMETRY_DEFAULTS, defaults);
  };
  return { forWorkload, selecting: selectingOf };
}

/** Lowers the Telemetry resources once, to evaluate for many workloads (warnings are dropped). */
export function prepareTelemetry(
  resources: readonly DialectResource[],
  defaults: TelemetryDefaults = {},
): PreparedTelemetry {
  const { forWorkload } = prepare(resources, defaults, new Warnings());
  return { forWorkload };
}

/** The metrics, tracing and access-log settings of one workload, and where each came from. */
export function telemetryFor(
  resources: readonly DialectResource[],
  workload: WorkloadIdentity,
  defaults: TelemetryDefaults = {},
): WorkloadTelemetry {
  return prepareTelemetry(resources, defaults).forWorkload(workload);
}

/**
 * What lowering Telemetry has to say (fields Trellis cannot honour, unknown providers, two
 * resources at one level), added to lowerMeshState's warnings.
 */
export function telemetryWarnings(
  resources: readonly DialectResource[],
  workloads: readonly WorkloadResource[],
  opts: { rootNamespace?: string | undefined },
  warnings: Warnings,
): void {
  const prepared = prepare(resources, { rootNamespace: opts.rootNamespace }, warnings);
  const named = workloads.map((w) => [`${w.metadata.namespace}/${w.metadata.name}`, w] as const);
  for (const [name, w] of named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [first, ...others] = prepared.selecting(workloadIdentity(w));
    for (const r of others)
      warnings.warn(
        r,
        r.spec.selector !== undefined
          ? 'spec.selector'
          : r.spec.targetRef !== undefined
            ? 'spec.targetRef'
            : 'spec.targetRefs',
        `selects workload ${name}, which Telemetry ${key(first!)} selects too: Istio allows one; both apply, merged in namespace/name order`,
        'conflict',
      );
  }
}

/** telemetryWarnings on their own, as a list. */
export function lowerTelemetryWarnings(
  resources: readonly DialectResource[],
  workloads: readonly WorkloadResource[],
  opts: { rootNamespace?: string } = {},
): DialectWarning[] {
  const warnings = new Warnings();
  telemetryWarnings(resources, workloads, opts, warnings);
  return warnings.list;
}
