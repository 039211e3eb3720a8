// Which versions stand behind a service's endpoints, and the deployment each one's golden metrics
// are kept under: the metrics `workload` label, `<app label>-<version label>` of the Workload
// (src/control/stats/inventory.ts deploymentOf), e.g. reviews-v2.
import type { ServiceDescription, StatItem, WorkloadObject } from '../../types.ts';

export interface VersionRef {
  version: string;
  deployment: string;
  /** Instances of this version among the endpoints. */
  workloads: string[];
}

export function deploymentOfWorkload(w: WorkloadObject): string {
  return `${w.metadata.labels.app ?? w.spec.service}-${w.metadata.labels.version ?? 'unknown'}`;
}

/**
 * The versions of `endpoints`, sorted by version. Endpoints whose Workload is not (yet) listed take
 * `<app>-<version>` with `app` the service the page is about: what `trellis run` registers.
 */
export function versionsOf(
  endpoints: ServiceDescription['endpoints'],
  workloads: readonly WorkloadObject[] | undefined,
  app: string,
): VersionRef[] {
  const byName = new Map((workloads ?? []).map((w) => [w.metadata.name, w]));
  const out = new Map<string, VersionRef>();
  for (const e of endpoints) {
    const w = byName.get(e.workload);
    const deployment = w !== undefined ? deploymentOfWorkload(w) : `${app}-${e.version}`;
    let v = out.get(deployment);
    if (v === undefined) out.set(deployment, (v = { version: e.version, deployment, workloads: [] }));
    v.workloads.push(e.workload);
  }
  return [...out.values()].sort(
    (a, b) => a.version.localeCompare(b.version) || a.deployment.localeCompare(b.deployment),
  );
}

export interface VersionTraffic extends VersionRef {
  stat: StatItem | undefined;
  rps: number;
  /** rps / the sum over `versions`, 0..1; null while none of them has traffic. */
  share: number | null;
}

/** Each version's live stats (MeshEvent.deployments) and its share of the versions' requests. */
export function trafficOf(
  versions: readonly VersionRef[],
  namespace: string,
  deployments: readonly StatItem[] | undefined,
): VersionTraffic[] {
  const stats = new Map((deployments ?? []).filter((d) => d.namespace === namespace).map((d) => [d.name, d]));
  const rows = versions.map((v) => {
    const stat = stats.get(v.deployment);
    return { ...v, stat, rps: stat?.stats?.rps ?? 0 };
  });
  const total = rows.reduce((sum, r) => sum + r.rps, 0);
  return rows.map((r) => ({ ...r, share: total > 0 ? r.rps / total : null }));
}
