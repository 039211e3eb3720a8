// The services that want a virtual IP, from the control plane's view: explicit Services (with
// their spec.clusterIP), services implied by workloads, and ServiceEntry hosts (lowered into
// Services by the Istio dialect). Subset Services that lowering synthesizes (`reviews--v2`) are
// route targets, never dialled by name: they get none.
import { serviceKey } from '../../resources/catalog.ts';
import { SUBSET_OF_LABEL } from '../../resources/kinds.ts';
import type { MeshState } from '../snapshot/index.ts';
import type { MeshView } from '../mesh-view.ts';
import type { VipDemand, VipSource } from './allocator.ts';

export function vipDemand(state: MeshState): VipDemand[] {
  const out = new Map<string, VipDemand>();
  for (const svc of state.services) {
    if (svc.metadata.labels[SUBSET_OF_LABEL] !== undefined) continue;
    const service = serviceKey(svc.metadata);
    out.set(service, { service, clusterIP: svc.spec.clusterIP });
  }
  for (const w of state.workloads) {
    const service = serviceKey({ name: w.spec.service, namespace: w.metadata.namespace });
    if (!out.has(service)) out.set(service, { service });
  }
  return [...out.values()].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

export function meshVipSource(view: MeshView): VipSource {
  return {
    demand: () => ({ services: vipDemand(view.state()), revision: view.revision }),
    onChange: (listener) => view.onChange(listener),
  };
}
