// Other meshes' YAML, accepted as written: Istio, SMI, Gateway API (GAMMA) and Linkerd kinds are
// registered with src/resources (parse, store, CLI names) when this module is imported, and
// lowered into native resources when the control plane compiles. See docs/dialects.md.
import type { z } from 'zod';
import type { MeshState } from '../control/snapshot/compiler.ts';
import { registerKind, type AnyResource } from '../resources/kinds.ts';
import { registerSetCheck } from '../resources/validate.ts';
import { GATEWAY_VERSIONS, GRPCRouteResource, HTTPRouteResource } from './gateway/schema.ts';
import {
  DestinationRuleResource,
  ServiceEntryResource,
  SidecarResource,
} from './istio/destination-rule-schema.ts';
import {
  AuthorizationPolicyResource,
  ISTIO_SECURITY,
  PeerAuthenticationResource,
  RequestAuthenticationResource,
} from './istio/security-schema.ts';
import { ISTIO_TELEMETRY, TelemetryResource } from './istio/telemetry-schema.ts';
import { ISTIO_NETWORKING, VirtualServiceResource } from './istio/virtual-service-schema.ts';
import { ServiceProfileResource } from './linkerd/schema.ts';
import { lowerMeshState } from './lower.ts';
import { TrafficTargetV1alpha1, TrafficTargetV1alpha2, TrafficTargetV1alpha3 } from './smi/access-schema.ts';
import {
  HTTPRouteGroupResource,
  SmiTCPRouteResource,
  SPECS_VERSIONS,
  TrafficSplitV1alpha1,
  TrafficSplitV1alpha2,
  TrafficSplitV1alpha3,
  TrafficSplitV1alpha4,
} from './smi/schema.ts';
import type { DialectResource } from './types.ts';

export { applyExternalServices, type ExternalService } from './external.ts';
export {
  sidecarOutboundPolicy,
  sidecarScope,
  type OutboundTrafficPolicy,
  type ScopeRule,
} from './istio/sidecar.ts';
export { lowerMeshState, type LoweredMesh, type LowerOptions } from './lower.ts';
export { PRECEDENCE_RULE } from './precedence.ts';
export {
  DEFAULT_ROOT_NAMESPACE,
  lowerSecurityWarnings,
  prepareSecurity,
  securityFor,
  workloadIdentity,
  type PreparedSecurity,
  type SecurityOptions,
  type SecurityOrigin,
  type WorkloadIdentity,
  type WorkloadSecurity,
} from './security.ts';
export {
  lowerTelemetryWarnings,
  prepareTelemetry,
  telemetryFor,
  type PreparedTelemetry,
  type TelemetryDefaults,
  type TelemetryOrigin,
  type WorkloadTelemetry,
} from './telemetry.ts';
export type { DialectResource } from './types.ts';

type Schema = z.ZodType<DialectResource>;
const every = (versions: readonly string[], schema: Schema): Map<string, Schema> =>
  new Map(versions.map((v) => [v, schema]));

registerKind({
  kind: 'VirtualService',
  versions: every(ISTIO_NETWORKING, VirtualServiceResource),
  aliases: ['virtualservices', 'vs'],
});
registerKind({
  kind: 'DestinationRule',
  versions: every(ISTIO_NETWORKING, DestinationRuleResource),
  aliases: ['destinationrules', 'dr'],
});
registerKind({
  kind: 'ServiceEntry',
  versions: every(ISTIO_NETWORKING, ServiceEntryResource),
  aliases: ['serviceentries', 'se'],
});
registerKind({ kind: 'Sidecar', versions: every(ISTIO_NETWORKING, SidecarResource), aliases: ['sidecars'] });
registerKind({
  kind: 'PeerAuthentication',
  versions: every(ISTIO_SECURITY, PeerAuthenticationResource),
  aliases: ['peerauthentications', 'pa'],
});
registerKind({
  kind: 'AuthorizationPolicy',
  versions: every(ISTIO_SECURITY, AuthorizationPolicyResource),
  aliases: ['authorizationpolicies', 'ap'],
});
registerKind({
  kind: 'RequestAuthentication',
  versions: every(ISTIO_SECURITY, RequestAuthenticationResource),
  aliases: ['requestauthentications', 'ra'],
});
registerKind({
  kind: 'Telemetry',
  versions: every(ISTIO_TELEMETRY, TelemetryResource),
  aliases: ['telemetries'],
});
registerKind({
  kind: 'TrafficSplit',
  versions: new Map<string, Schema>([
    ['split.smi-spec.io/v1alpha1', TrafficSplitV1alpha1],
    ['split.smi-spec.io/v1alpha2', TrafficSplitV1alpha2],
    ['split.smi-spec.io/v1alpha3', TrafficSplitV1alpha3],
    ['split.smi-spec.io/v1alpha4', TrafficSplitV1alpha4],
  ]),
  aliases: ['trafficsplits', 'ts'],
});
registerKind({
  kind: 'TrafficTarget',
  versions: new Map<string, Schema>([
    ['access.smi-spec.io/v1alpha1', TrafficTargetV1alpha1],
    ['access.smi-spec.io/v1alpha2', TrafficTargetV1alpha2],
    ['access.smi-spec.io/v1alpha3', TrafficTargetV1alpha3],
  ]),
  aliases: ['traffictargets', 'tt'],
});
registerKind({
  kind: 'HTTPRouteGroup',
  versions: every(SPECS_VERSIONS, HTTPRouteGroupResource),
  aliases: ['httproutegroups', 'htr'],
});
registerKind({
  kind: 'TCPRoute',
  versions: every(SPECS_VERSIONS, SmiTCPRouteResource),
  aliases: ['tcproutes'],
});
registerKind({
  kind: 'HTTPRoute',
  versions: every(GATEWAY_VERSIONS, HTTPRouteResource),
  aliases: ['httproutes'],
});
registerKind({
  kind: 'GRPCRoute',
  versions: every(GATEWAY_VERSIONS, GRPCRouteResource),
  aliases: ['grpcroutes'],
});
registerKind({
  kind: 'ServiceProfile',
  versions: every(['linkerd.io/v1alpha2', 'linkerd.io/v1alpha1'], ServiceProfileResource),
  aliases: ['serviceprofiles', 'sp'],
});

const DIALECT_KINDS: ReadonlySet<string> = new Set<DialectResource['kind']>([
  'VirtualService',
  'DestinationRule',
  'ServiceEntry',
  'Sidecar',
  'TrafficSplit',
  'HTTPRouteGroup',
  'TCPRoute',
  'HTTPRoute',
  'GRPCRoute',
  'ServiceProfile',
  'PeerAuthentication',
  'AuthorizationPolicy',
  'RequestAuthentication',
  'TrafficTarget',
  'Telemetry',
]);

export function isDialectResource(r: AnyResource): r is DialectResource {
  return DIALECT_KINDS.has(r.kind);
}

/** Splits a resource set the way the control plane keeps it. */
export function splitResources(
  resources: readonly AnyResource[],
): MeshState & { dialects: DialectResource[] } {
  const out: MeshState & { dialects: DialectResource[] } = {
    services: [],
    workloads: [],
    routes: [],
    policies: [],
    dialects: [],
  };
  for (const r of resources) {
    if (isDialectResource(r)) out.dialects.push(r);
    else if (r.kind === 'Service') out.services.push(r);
    else if (r.kind === 'Workload') out.workloads.push(r);
    else if (r.kind === 'TrafficRoute') out.routes.push(r);
    else out.policies.push(r);
  }
  return out;
}

// `trellis apply` reports how dialect resources lower, and their conflicts, with the other warnings.
registerSetCheck((resources) => {
  const parts = splitResources(resources);
  return parts.dialects.length === 0 ? [] : lowerMeshState(parts).warnings;
});
