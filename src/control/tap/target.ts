// What a tap is aimed at: a service (every proxy of a workload it selects) or one workload, and
// which connected proxies that means — decided per proxy from its registration, so that a proxy
// joining while the tap runs is recognised before the store has even recorded its workload.
import { buildServiceCatalog } from '../../resources/catalog.ts';
import type { MeshView } from '../mesh-view.ts';
import { NotFoundError } from '../errors.ts';
import type { WorkloadRegistration } from '../protocol.ts';
import type { ConnectedProxy } from '../stream-hooks.ts';

export interface TapTarget {
  kind: 'service' | 'workload';
  namespace: string;
  name: string;
}

export interface ResolvedTarget extends TapTarget {
  /** Is this proxy one of the target's? */
  matches(reg: WorkloadRegistration): boolean;
}

/** Kubernetes' label selection: every key must match; an empty selector selects nothing. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return false;
  let any = false;
  for (const k in selector) {
    if (labels[k] !== selector[k]) return false;
    any = true;
  }
  return any;
}

/** The target, or 404 TRELLIS_NOT_FOUND when the mesh knows no such service or workload. */
export function resolveTarget(view: MeshView, connected: ConnectedProxy[], t: TapTarget): ResolvedTarget {
  const { namespace, name } = t;
  const state = view.state();
  if (t.kind === 'workload') {
    const known =
      state.workloads.some((w) => w.metadata.namespace === namespace && w.metadata.name === name) ||
      connected.some((p) => p.registration.namespace === namespace && p.registration.name === name);
    if (!known) throw NotFoundError(`workload ${namespace}/${name}`);
    return { ...t, matches: (reg) => reg.namespace === namespace && reg.name === name };
  }
  const explicit = state.services.find((s) => s.metadata.namespace === namespace && s.metadata.name === name);
  if (explicit !== undefined) {
    const selector = explicit.spec.selector;
    return { ...t, matches: (reg) => reg.namespace === namespace && selects(selector, reg.labels) };
  }
  // A service implied by its workloads: those that name it.
  const implied = (reg: WorkloadRegistration): boolean =>
    reg.namespace === namespace && reg.spec.service === name;
  const known =
    state.workloads.some((w) => w.metadata.namespace === namespace && w.spec.service === name) ||
    connected.some((p) => implied(p.registration));
  if (!known) throw NotFoundError(`service ${name}.${namespace}`);
  return { ...t, matches: implied };
}

/** `name` or `name.namespace` (relative to `fromNamespace`) → `name.namespace`, or 404. */
export function resolveDestination(view: MeshView, ref: string, fromNamespace: string): string {
  const [name = '', namespace = fromNamespace] = ref.split('.');
  const state = view.state();
  const key = `${name}.${namespace}`;
  if (!buildServiceCatalog(state.services, state.workloads).has(key))
    throw NotFoundError(`service ${key} (--to)`);
  return key;
}
