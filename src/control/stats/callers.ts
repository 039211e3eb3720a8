// Who called, in a kind the labels do not name. The callee's sidecar labels its caller by deployment
// (`source_workload`: app-version, from the peer header) and identity (`source_principal`), never by
// service or instance. The mesh state maps those back: a deployment (or failing that, a service
// account) whose workloads all belong to one service names the calling service; a deployment (or
// service account) of a single workload names the calling instance. Opaque TCP carries no peer
// header, so there the identity alone names the caller. Anything ambiguous stays unknown.
import type { WorkloadResource } from '../../resources/kinds.ts';
import type { MeshState } from '../snapshot/index.ts';
import { deploymentOf } from './inventory.ts';
import type { ResourceRef, StatKind } from './query.ts';
import type { SeriesDef } from './store.ts';

export type CallerOf = (def: SeriesDef) => ResourceRef | undefined;

const UNKNOWN = 'unknown';

/** For `services` and `workloads`: the caller of a server-side series; undefined for other kinds. */
export function callerResolver(state: MeshState, kind: StatKind): CallerOf | undefined {
  if (kind !== 'services' && kind !== 'workloads') return undefined;
  const nameOf = (w: WorkloadResource): string => (kind === 'services' ? w.spec.service : w.metadata.name);
  const byDeployment = groupBy(state.workloads, (w) => `${w.metadata.namespace}/${deploymentOf(w)}`, nameOf);
  const byAccount = groupBy(
    state.workloads,
    (w) => `${w.metadata.namespace}/${w.spec.serviceAccount}`,
    nameOf,
  );
  return (def) => {
    const l = def.labels;
    const namespace = l.source_namespace;
    if (namespace === undefined || namespace === UNKNOWN) return undefined;
    const only = (names: Set<string> | undefined): ResourceRef | undefined =>
      names?.size === 1 ? { namespace, name: [...names][0]! } : undefined;
    const deployment = l.source_workload;
    const found =
      deployment !== undefined && deployment !== UNKNOWN
        ? only(byDeployment.get(`${namespace}/${deployment}`))
        : undefined;
    if (found !== undefined) return found;
    const account = accountOf(l.source_principal, namespace);
    return account === undefined ? undefined : only(byAccount.get(`${namespace}/${account}`));
  };
}

function groupBy(
  workloads: readonly WorkloadResource[],
  key: (w: WorkloadResource) => string,
  value: (w: WorkloadResource) => string,
): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const w of workloads) {
    const k = key(w);
    let set = out.get(k);
    if (set === undefined) out.set(k, (set = new Set()));
    set.add(value(w));
  }
  return out;
}

/** The service account of `spiffe://TD/ns/NS/sa/SA` when NS is `namespace`. */
function accountOf(principal: string | undefined, namespace: string): string | undefined {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal ?? '');
  return m !== null && m[1] === namespace ? m[2] : undefined;
}
