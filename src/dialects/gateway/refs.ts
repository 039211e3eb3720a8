// References in Gateway API routes: parentRefs (GAMMA: a Service) and backendRefs (Services), and
// the header filters both route kinds share.
import type { ServiceId } from '../../resources/catalog.ts';
import { serviceKey } from '../../resources/catalog.ts';
import { serviceRef } from '../common/hosts.ts';
import type { LowerContext, RouteInput, Warn } from '../common/lowering.ts';
import { isDnsLabel } from '../common/names.ts';
import type { BackendObjectRef, HeaderModifier, ParentRef } from './schema.ts';

export type { Warn };

const isCore = (group: string | undefined): boolean =>
  group === undefined || group === '' || group === 'core';

/** The Services a route attaches to (GAMMA); other parents (Gateways) are warned about. */
export function serviceParents(refs: readonly ParentRef[], namespace: string, warn: Warn): ServiceId[] {
  const out: ServiceId[] = [];
  refs.forEach((p, i) => {
    const path = `spec.parentRefs[${i}]`;
    // Gateway API's defaults: group gateway.networking.k8s.io, kind Gateway.
    if (!(isCore(p.group) && p.kind === 'Service')) {
      warn(
        path,
        `parent ${p.kind ?? 'Gateway'} "${p.name}": only Service parents (GAMMA) are lowered; ingress is a separate capability`,
      );
      return;
    }
    if (p.port !== undefined)
      warn(`${path}.port`, 'per-port attachment is not supported: the route applies to every port');
    if (p.sectionName !== undefined)
      warn(`${path}.sectionName`, 'not supported for Service parents; ignored');
    const ns = p.namespace ?? namespace;
    if (ns !== namespace)
      warn(
        path,
        `a consumer route (namespace ${namespace}) for a Service of ${ns} applies to every caller here, not only to ${namespace}`,
      );
    if (!isDnsLabel(p.name)) {
      warn(`${path}.name`, `"${p.name}" is not a Service name`);
      return;
    }
    out.push({ name: p.name, namespace: ns });
  });
  return out;
}

/** A backendRef (or mirror target) as a `name.ns` service reference; undefined (warned) otherwise. */
export function backendService(
  ref: BackendObjectRef,
  namespace: string,
  path: string,
  ctx: LowerContext,
  warn: Warn,
): string | undefined {
  if (!(isCore(ref.group) && (ref.kind === undefined || ref.kind === 'Service'))) {
    warn(path, `backend ${ref.kind ?? ''} "${ref.name}": only Service backends are supported; dropped`);
    return undefined;
  }
  if (!isDnsLabel(ref.name)) {
    warn(`${path}.name`, `"${ref.name}" is not a Service name; dropped`);
    return undefined;
  }
  const id = { name: ref.name, namespace: ref.namespace ?? namespace };
  if (id.namespace !== namespace)
    warn(`${path}.namespace`, 'ReferenceGrants are not checked: cross-namespace backends are always allowed');
  if (!ctx.catalog.has(serviceKey(id)))
    warn(
      path,
      `service "${serviceKey(id)}" does not exist (yet): requests sent to it fail with 503`,
      'host-not-found',
    );
  return serviceRef(id);
}

export function headerMutation(m: HeaderModifier | undefined): RouteInput['requestHeaders'] {
  if (m === undefined) return undefined;
  const pairs = (list: { name: string; value: string }[] | undefined): Record<string, string> =>
    Object.fromEntries((list ?? []).map((h) => [h.name.toLowerCase(), h.value]));
  return { set: pairs(m.set), add: pairs(m.add), remove: (m.remove ?? []).map((h) => h.toLowerCase()) };
}
