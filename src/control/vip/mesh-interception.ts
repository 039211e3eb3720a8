// What the snapshot compiler needs for transparent interception, from the control plane's state:
// the virtual IPs allocated so far, the outbound traffic policy (mesh-wide, or the Istio Sidecar
// that applies to a proxy), and the names ServiceEntry hosts are dialled by.
import { serviceKey } from '../../resources/catalog.ts';
import {
  sidecarOutboundPolicy,
  type ExternalService,
  type OutboundTrafficPolicy,
  type ScopeRule,
} from '../../dialects/index.ts';
import type { MeshInterception, Passthrough } from '../snapshot/index.ts';
import type { VirtualIps, VirtualIpsOptions } from './allocator.ts';

export const OUTBOUND_TRAFFIC_POLICIES = ['ALLOW_ANY', 'REGISTRY_ONLY'] as const;

/** What `trellis up` configures: the range virtual IPs come from and the mesh-wide policy. */
export interface InterceptionOptions extends Omit<VirtualIpsOptions, 'range'> {
  /** IPv4 CIDR block; default 240.240.0.0/16. */
  vipRange?: string | undefined;
  outboundTrafficPolicy?: OutboundTrafficPolicy | undefined;
}

export interface InterceptionSettings {
  vips: Pick<VirtualIps, 'addresses'>;
  /** Mesh-wide default (Istio's meshConfig.outboundTrafficPolicy); default ALLOW_ANY. */
  outboundTrafficPolicy?: OutboundTrafficPolicy | undefined;
}

function passthroughOf(policy: OutboundTrafficPolicy): Passthrough {
  return policy === 'REGISTRY_ONLY' ? 'deny' : 'allow';
}

/** Undefined without settings: snapshots then carry no interception or dns (tests, benchmarks). */
export function meshInterception(
  settings: InterceptionSettings | undefined,
  lowered: { scopes: readonly ScopeRule[]; externals: readonly ExternalService[] },
): MeshInterception | undefined {
  if (settings === undefined) return undefined;
  const fallback = settings.outboundTrafficPolicy ?? 'ALLOW_ANY';
  const hostNames = new Map<string, readonly string[]>();
  for (const e of lowered.externals)
    if (e.domains.length > 0) hostNames.set(serviceKey(e.service), e.domains);
  return {
    virtualIps: settings.vips.addresses(),
    passthroughFor: (w) => passthroughOf(sidecarOutboundPolicy(w, lowered.scopes) ?? fallback),
    hostNames,
  };
}
