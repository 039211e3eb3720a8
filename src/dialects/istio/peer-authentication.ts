// PeerAuthentication → a workload's inbound mTLS mode, with Istio's precedence: a policy selecting
// the workload > its namespace's policy without selector > the mesh policy (root namespace, no
// selector). UNSET inherits from the level above; nothing at all is PERMISSIVE. A workload-level
// policy's `portLevelMtls` entry for the workload's app port overrides its mode (UNSET: the
// workload level's). Of several policies at one level Istio takes the oldest; creation times are
// not stored, so the first by namespace/name is taken, and the others are warned about.
import type { MtlsMode } from '../../model/security.ts';
import type { Warnings } from '../common/lowering.ts';
import { inScope, selectorLabels, type WorkloadIdentity } from '../common/selector.ts';
import type { IstioMtlsMode, PeerAuthenticationResource } from './security-schema.ts';

export type MtlsLevel = 'mesh' | 'namespace' | 'workload';

export interface ResolvedMtls {
  mode: MtlsMode;
  /** The policy taken at each level that has one, mesh first. */
  applied: { level: MtlsLevel; policy: PeerAuthenticationResource }[];
}

const LEVELS: readonly MtlsLevel[] = ['mesh', 'namespace', 'workload'];

function modeOf(m: { mode: IstioMtlsMode } | undefined): MtlsMode | undefined {
  return m === undefined || m.mode === 'UNSET' ? undefined : m.mode;
}

function key(pa: PeerAuthenticationResource): string {
  return `${pa.metadata.namespace}/${pa.metadata.name}`;
}

/** Where a policy sits: mesh or namespace level, or undefined for a workload-level one (it has a selector). */
function wideLevel(pa: PeerAuthenticationResource, rootNamespace: string): MtlsLevel | undefined {
  if (selectorLabels(pa.spec.selector) !== undefined) return undefined;
  return pa.metadata.namespace === rootNamespace ? 'mesh' : 'namespace';
}

function sameLevelWarning(level: MtlsLevel, first: PeerAuthenticationResource): string {
  const where = level === 'workload' ? 'selects a workload this one selects too' : `is ${level}-wide too`;
  return `ignored: PeerAuthentication ${key(first)} ${where} and sorts first (Istio keeps the oldest; creation times are not stored, so the first by namespace/name wins)`;
}

/**
 * Mesh- and namespace-wide policies that lose to another at the same level, whatever workloads
 * exist. `policies` sorted by namespace/name.
 */
export function checkPeerAuthentications(
  policies: readonly PeerAuthenticationResource[],
  rootNamespace: string,
  warnings: Warnings,
): void {
  const first = new Map<string, PeerAuthenticationResource>();
  for (const pa of policies) {
    if (pa.spec.portLevelTls !== undefined) warnings.warn(pa, 'spec.portLevelTls', 'not supported; ignored');
    const level = wideLevel(pa, rootNamespace);
    if (level === undefined) continue;
    const winner = first.get(pa.metadata.namespace);
    if (winner === undefined) first.set(pa.metadata.namespace, pa);
    else warnings.warn(pa, 'spec', sameLevelWarning(level, winner), 'conflict');
  }
}

/** The mode `w` gets. `policies` sorted by namespace/name. */
export function resolveMtls(
  policies: readonly PeerAuthenticationResource[],
  w: WorkloadIdentity,
  rootNamespace: string,
  warnings: Warnings,
): ResolvedMtls {
  const picked = new Map<MtlsLevel, PeerAuthenticationResource>();
  for (const pa of policies) {
    const wide = wideLevel(pa, rootNamespace);
    const ns = pa.metadata.namespace;
    const level: MtlsLevel | undefined =
      wide === 'mesh' || (wide === 'namespace' && ns === w.namespace)
        ? wide
        : wide === undefined &&
            inScope({ namespace: ns, selector: selectorLabels(pa.spec.selector) }, w, rootNamespace)
          ? 'workload'
          : undefined;
    if (level === undefined) continue;
    const winner = picked.get(level);
    if (winner === undefined) picked.set(level, pa);
    // Wide conflicts are reported once by checkPeerAuthentications.
    else if (level === 'workload')
      warnings.warn(pa, 'spec.selector', sameLevelWarning(level, winner), 'conflict');
  }
  let mode: MtlsMode = 'PERMISSIVE';
  for (const level of LEVELS) mode = modeOf(picked.get(level)?.spec.mtls) ?? mode;
  const workload = picked.get('workload');
  const port = workload?.spec.portLevelMtls?.[String(w.appPort)];
  if (port !== undefined) mode = modeOf(port) ?? mode;
  const applied = LEVELS.flatMap((level) => {
    const policy = picked.get(level);
    return policy === undefined ? [] : [{ level, policy }];
  });
  return { mode, applied };
}

/** Port-level entries that no workload the policy selects listens on: they change nothing. */
export function checkPortLevelMtls(
  pa: PeerAuthenticationResource,
  selected: readonly WorkloadIdentity[],
  warnings: Warnings,
): void {
  const ports = new Set(selected.map((w) => String(w.appPort)));
  for (const port of Object.keys(pa.spec.portLevelMtls ?? {})) {
    if (ports.has(port) || selected.length === 0) continue;
    warnings.warn(
      pa,
      `spec.portLevelMtls.${port}`,
      `no workload it selects has app port ${port} (${[...ports].sort().join(', ')}): ignored (a Trellis workload serves its app port only)`,
    );
  }
}
