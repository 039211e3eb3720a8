// The resources the mesh knows of each stat kind, so a resource without traffic still has a row,
// and how many of its workloads are meshed: MESHED counts the workloads whose sidecar is connected
// to this control-plane replica, out of those registered (the catalog's, for a service).
import { buildServiceCatalog } from '../../resources/catalog.ts';
import type { WorkloadResource } from '../../resources/kinds.ts';
import type { MeshState } from '../snapshot/index.ts';
import { refKey, type ResourceRef, type StatKind } from './query.ts';

export interface KnownResource {
  ref: ResourceRef;
  meshed: { connected: number; total: number };
}

/** The deployment (metrics `workload` label) a workload belongs to: `app-version`. */
export function deploymentOf(w: WorkloadResource): string {
  return `${w.metadata.labels.app ?? w.spec.service}-${w.metadata.labels.version ?? 'unknown'}`;
}

/** Every resource of `kind` the mesh state names; `connected` holds `namespace/name` of live workloads. */
export function knownResources(
  state: MeshState,
  connected: ReadonlySet<string>,
  kind: StatKind,
): Map<string, KnownResource> {
  const out = new Map<string, KnownResource>();
  const count = (ref: ResourceRef, workloads: readonly WorkloadResource[]): void => {
    const key = refKey(ref);
    let k = out.get(key);
    if (k === undefined) out.set(key, (k = { ref, meshed: { connected: 0, total: 0 } }));
    for (const w of workloads) {
      k.meshed.total++;
      if (connected.has(`${w.metadata.namespace}/${w.metadata.name}`)) k.meshed.connected++;
    }
  };
  if (kind === 'services') {
    for (const svc of buildServiceCatalog(state.services, state.workloads).values())
      count({ namespace: svc.namespace, name: svc.name }, svc.workloads);
    return out;
  }
  if (kind === 'namespaces')
    for (const s of state.services)
      count({ namespace: s.metadata.namespace, name: s.metadata.namespace }, []);
  for (const w of state.workloads) {
    const ns = w.metadata.namespace;
    const name = kind === 'workloads' ? w.metadata.name : kind === 'deployments' ? deploymentOf(w) : ns;
    count({ namespace: ns, name }, [w]);
  }
  return out;
}
