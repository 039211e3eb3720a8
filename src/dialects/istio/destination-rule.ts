// DestinationRule → the policy of its host's cluster, and for each subset a Service selecting the
// host's workloads that carry the subset's labels (`<host>--<subset>`), with its own policy.
import { serviceKey, type ServiceId } from '../../resources/catalog.ts';
import type { ServiceResource } from '../../resources/kinds.ts';
import { buildService, type PolicyCandidate, type ServiceCandidate, type Warn } from '../common/lowering.ts';
import { subsetServiceName } from '../common/names.ts';
import { SUBSET_OF_LABEL } from '../../resources/kinds.ts';
import type { IstioContext } from './context.ts';
import type { DestinationRuleResource } from './destination-rule-schema.ts';
import { effectiveParts, lowerPolicyParts, overlay } from './traffic-policy.ts';

export interface DestinationRuleOutput {
  services: ServiceCandidate[];
  policies: PolicyCandidate[];
}

/** The host's selector and ports, which its subset Services start from. */
function parentShape(
  ctx: IstioContext,
  id: ServiceId,
): { selector: Record<string, string>; ports: ServiceResource['spec']['ports'] } {
  const svc = ctx.base.catalog.get(serviceKey(id));
  if (svc?.explicit !== undefined)
    return { selector: svc.explicit.spec.selector ?? {}, ports: svc.explicit.spec.ports };
  // A service implied by its workloads selects them by name; their `app` label says the same.
  return { selector: { app: id.name }, ports: (svc?.ports ?? []).map((port) => ({ port })) };
}

/** `rules` sorted by namespace/name: of two rules for one host, the first wins. */
export function lowerDestinationRules(
  rules: DestinationRuleResource[],
  ctx: IstioContext,
): DestinationRuleOutput {
  const out: DestinationRuleOutput = { services: [], policies: [] };
  const winners = new Map<string, DestinationRuleResource>();
  for (const dr of rules) {
    const warn: Warn = (path, message, code) => ctx.base.warnings.warn(dr, path, message, code);
    const { host } = dr.spec;
    if (host.includes('*')) {
      warn('spec.host', `wildcard host "${host}" is not supported; rule ignored`);
      continue;
    }
    const id = ctx.resolve(host, dr.metadata.namespace);
    if (id === undefined) {
      warn(
        'spec.host',
        `host "${host}" names no service (declare external hosts with a ServiceEntry)`,
        'host-not-found',
      );
      continue;
    }
    const key = serviceKey(id);
    const first = winners.get(key);
    if (first !== undefined) {
      warn(
        'spec.host',
        `ignored: DestinationRule ${first.metadata.namespace}/${first.metadata.name} also applies to ${key} and sorts first`,
        'conflict',
      );
      continue;
    }
    winners.set(key, dr);
    if (dr.spec.workloadSelector !== undefined)
      warn('spec.workloadSelector', 'not supported: applies to every caller');
    if (dr.spec.exportTo !== undefined) warn('spec.exportTo', 'not supported: visible to every namespace');
    const parent = parentShape(ctx, id);
    const ports = [...new Set(parent.ports.map((p) => p.port))];
    const top = effectiveParts(dr.spec.trafficPolicy, ports, 'spec.trafficPolicy', warn);
    const mesh = !ctx.isExternal(id);
    const spec = lowerPolicyParts(top, 'spec.trafficPolicy', warn, mesh);
    if (spec !== undefined)
      out.policies.push({ dialect: 'istio', service: id, sources: [dr], spec, path: 'spec.trafficPolicy' });
    const names = new Set<string>();
    dr.spec.subsets.forEach((s, i) => {
      const path = `spec.subsets[${i}]`;
      if (names.has(s.name)) {
        warn(`${path}.name`, `duplicate subset "${s.name}"; ignored`);
        return;
      }
      names.add(s.name);
      const subsetId = { name: subsetServiceName(id.name, s.name), namespace: id.namespace };
      ctx.addSubset(id, s.name, subsetId);
      const selector = { ...parent.selector, ...s.labels };
      const svc = buildService(dr, subsetId, { selector, ports: parent.ports }, ctx.base.warnings, {
        [SUBSET_OF_LABEL]: id.name,
      });
      if (svc !== undefined) out.services.push(svc);
      const own = effectiveParts(s.trafficPolicy, ports, `${path}.trafficPolicy`, warn);
      // Warnings about the subset's own parts only: inherited ones were reported at the top level.
      lowerPolicyParts(own, `${path}.trafficPolicy`, warn, mesh);
      const subsetSpec = lowerPolicyParts(overlay(top, own), `${path}.trafficPolicy`, () => {}, mesh);
      if (subsetSpec !== undefined)
        out.policies.push({ dialect: 'istio', service: subsetId, sources: [dr], spec: subsetSpec, path });
    });
  }
  return out;
}
