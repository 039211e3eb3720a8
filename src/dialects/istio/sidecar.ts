// Sidecar → the scope of the proxies it selects: the services their outbound side knows. Istio's
// egress hosts ("ns/dnsName", with "*", "." for the Sidecar's namespace, "~" for none, and
// "*.suffix" names) are expanded against the services of the mesh, because a proxy's scope is a
// list of services.
import type { MeshService } from '../../resources/catalog.ts';
import type { WorkloadResource } from '../../resources/kinds.ts';
import type { ExternalService } from '../external.ts';
import { serviceFqdn } from '../common/hosts.ts';
import type { LowerContext, Warn } from '../common/lowering.ts';
import { byNamespaceName } from '../common/lowering.ts';
import type { SidecarResource } from './destination-rule-schema.ts';

/** Istio's root namespace: a Sidecar there without a selector is the mesh-wide default. */
export const ROOT_NAMESPACE = 'istio-system';

export interface ScopeRule {
  /** `namespace/name` of the Sidecar. */
  source: string;
  namespace: string;
  selector: Record<string, string> | undefined;
  /** Services in scope, as `name.ns`, sorted. */
  services: string[];
  /** outboundTrafficPolicy.mode when the Sidecar sets it: what intercepted traffic to unknown destinations gets. */
  outboundTrafficPolicy?: OutboundTrafficPolicy;
}

export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

function hostMatches(pattern: string, svc: MeshService, external: ExternalService | undefined): boolean {
  if (pattern === '*') return true;
  const names = [svc.name, `${svc.name}.${svc.namespace}`, serviceFqdn(svc), ...(external?.domains ?? [])];
  if (pattern.startsWith('*.')) return names.some((n) => n.endsWith(pattern.slice(1)));
  return names.includes(pattern.toLowerCase());
}

/** Sidecars sorted by namespace/name; `services` is the mesh after lowering. */
export function lowerSidecars(
  sidecars: SidecarResource[],
  services: ReadonlyMap<string, MeshService>,
  externals: readonly ExternalService[],
  ctx: LowerContext,
): ScopeRule[] {
  const externalOf = new Map(externals.map((e) => [`${e.service.name}.${e.service.namespace}`, e]));
  const rules: ScopeRule[] = [];
  const defaults = new Map<string, SidecarResource>();
  for (const sc of [...sidecars].sort(byNamespaceName)) {
    const warn: Warn = (path, message, code) => ctx.warnings.warn(sc, path, message, code);
    const { spec } = sc;
    const ns = sc.metadata.namespace;
    if (spec.ingress !== undefined) warn('spec.ingress', 'inbound listeners come from the workload; ignored');
    if (spec.inboundConnectionPool !== undefined)
      warn('spec.inboundConnectionPool', 'not supported; ignored');
    if (spec.outboundTrafficPolicy?.egressProxy !== undefined)
      warn('spec.outboundTrafficPolicy.egressProxy', 'not supported; ignored');
    if (spec.workloadSelector === undefined) {
      const first = defaults.get(ns);
      if (first !== undefined) {
        warn(
          'metadata.name',
          `ignored: Sidecar ${ns}/${first.metadata.name} is the namespace default and sorts first`,
          'conflict',
        );
        continue;
      }
      defaults.set(ns, sc);
    }
    const keys = new Set<string>();
    const egress = spec.egress ?? [{ hosts: ['*/*'] }];
    egress.forEach((e, ei) => {
      if ('port' in e && (e.port !== undefined || e.bind !== undefined || e.captureMode !== undefined))
        warn(
          `spec.egress[${ei}]`,
          'per-port egress listeners (port, bind, captureMode) are not supported; ignored',
        );
      e.hosts.forEach((h, hi) => {
        const slash = h.indexOf('/');
        if (slash < 0) {
          warn(`spec.egress[${ei}].hosts[${hi}]`, `write hosts as "namespace/dnsName"; "${h}" ignored`);
          return;
        }
        const hostNs = h.slice(0, slash);
        const dns = h.slice(slash + 1);
        if (hostNs === '~') return;
        for (const [key, svc] of services) {
          const nsOk = hostNs === '*' || svc.namespace === (hostNs === '.' ? ns : hostNs);
          if (nsOk && hostMatches(dns, svc, externalOf.get(key))) keys.add(key);
        }
      });
    });
    const mode = spec.outboundTrafficPolicy?.mode;
    rules.push({
      source: `${ns}/${sc.metadata.name}`,
      namespace: ns,
      selector: spec.workloadSelector?.labels,
      services: [...keys].sort(),
      ...(mode === undefined ? {} : { outboundTrafficPolicy: mode }),
    });
  }
  return rules;
}

/**
 * The scope Sidecars give a workload: the first (by name) in its namespace whose selector it
 * matches, else its namespace's default, else the root namespace's; undefined: no Sidecar applies.
 */
export function sidecarScope(w: WorkloadResource, rules: readonly ScopeRule[]): string[] | undefined {
  return sidecarOf(w, rules)?.services;
}

/** The outboundTrafficPolicy of the Sidecar that applies to a workload; undefined: the mesh's default. */
export function sidecarOutboundPolicy(
  w: WorkloadResource,
  rules: readonly ScopeRule[],
): OutboundTrafficPolicy | undefined {
  return sidecarOf(w, rules)?.outboundTrafficPolicy;
}

function sidecarOf(w: WorkloadResource, rules: readonly ScopeRule[]): ScopeRule | undefined {
  const ns = w.metadata.namespace;
  const labels: Record<string, string> = w.metadata.labels;
  const selected = rules.find(
    (r) =>
      r.namespace === ns &&
      r.selector !== undefined &&
      Object.entries(r.selector).every(([k, v]) => labels[k] === v),
  );
  return (
    selected ??
    rules.find((r) => r.namespace === ns && r.selector === undefined) ??
    rules.find((r) => r.namespace === ROOT_NAMESPACE && r.selector === undefined)
  );
}
