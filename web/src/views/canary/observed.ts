// Configured against observed: each backend's versions with the share of the requests they served
// (live deployment stats), next to the backend's configured weight.
import type { StatItem } from '../../types.ts';
import type { VersionRef } from '../service/versions.ts';
import type { SplitBackend, SplitRule } from './use-splits.ts';

export interface ObservedRow {
  backend: SplitBackend;
  /** Undefined: the backend has no endpoints (or does not exist). */
  version: VersionRef | undefined;
  stat: StatItem | undefined;
  rps: number;
  /** This version's share of the requests all the rule's versions served, 0..1; null without traffic. */
  observed: number | null;
  /** The backend's observed share (all its versions), on its first row only. */
  backendObserved: number | null;
  firstOfBackend: boolean;
  rowsOfBackend: number;
  /** The version also stands behind another backend of the rule (overlapping selectors). */
  shared: boolean;
}

export function observedRows(rule: SplitRule, deployments: readonly StatItem[] | undefined): ObservedRow[] {
  const stats = new Map((deployments ?? []).map((d) => [`${d.namespace}/${d.name}`, d]));
  const statOf = (b: SplitBackend, v: VersionRef): StatItem | undefined =>
    stats.get(`${b.ref.namespace}/${v.deployment}`);
  const owners = new Map<string, number>();
  for (const b of rule.backends)
    for (const v of b.versions) {
      const k = `${b.ref.namespace}/${v.deployment}`;
      owners.set(k, (owners.get(k) ?? 0) + 1);
    }
  // Each deployment counts once in the total, however many backends select it.
  let total = 0;
  const counted = new Set<string>();
  for (const b of rule.backends)
    for (const v of b.versions) {
      const k = `${b.ref.namespace}/${v.deployment}`;
      if (counted.has(k)) continue;
      counted.add(k);
      total += statOf(b, v)?.stats?.rps ?? 0;
    }
  const share = (rps: number): number | null => (total > 0 ? rps / total : null);

  return rule.backends.flatMap((b) => {
    const versions: (VersionRef | undefined)[] = b.versions.length > 0 ? b.versions : [undefined];
    const backendRps = b.versions.reduce((sum, v) => sum + (statOf(b, v)?.stats?.rps ?? 0), 0);
    return versions.map((v, i) => {
      const stat = v === undefined ? undefined : statOf(b, v);
      const rps = stat?.stats?.rps ?? 0;
      return {
        backend: b,
        version: v,
        stat,
        rps,
        observed: v === undefined ? null : share(rps),
        backendObserved: share(backendRps),
        firstOfBackend: i === 0,
        rowsOfBackend: versions.length,
        shared: v !== undefined && (owners.get(`${b.ref.namespace}/${v.deployment}`) ?? 0) > 1,
      };
    });
  });
}
