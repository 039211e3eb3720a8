// Every kind of another mesh Trellis reads, as parsed (and stored).
import type { GRPCRouteResource, HTTPRouteResource } from './gateway/schema.ts';
import type {
  DestinationRuleResource,
  ServiceEntryResource,
  SidecarResource,
} from './istio/destination-rule-schema.ts';
import type {
  AuthorizationPolicyResource,
  PeerAuthenticationResource,
  RequestAuthenticationResource,
} from './istio/security-schema.ts';
import type { TelemetryResource } from './istio/telemetry-schema.ts';
import type { VirtualServiceResource } from './istio/virtual-service-schema.ts';
import type { ServiceProfileResource } from './linkerd/schema.ts';
import type { TrafficTargetResource } from './smi/access-schema.ts';
import type { HTTPRouteGroupResource, SmiTCPRouteResource, TrafficSplitResource } from './smi/schema.ts';

export type {
  AuthorizationPolicyResource,
  DestinationRuleResource,
  GRPCRouteResource,
  HTTPRouteGroupResource,
  HTTPRouteResource,
  PeerAuthenticationResource,
  RequestAuthenticationResource,
  ServiceEntryResource,
  ServiceProfileResource,
  SidecarResource,
  SmiTCPRouteResource,
  TelemetryResource,
  TrafficSplitResource,
  TrafficTargetResource,
  VirtualServiceResource,
};

export type DialectResource =
  | VirtualServiceResource
  | DestinationRuleResource
  | ServiceEntryResource
  | SidecarResource
  | TrafficSplitResource
  | HTTPRouteGroupResource
  | SmiTCPRouteResource
  | HTTPRouteResource
  | GRPCRouteResource
  | ServiceProfileResource
  | PeerAuthenticationResource
  | AuthorizationPolicyResource
  | RequestAuthenticationResource
  | TrafficTargetResource
  | TelemetryResource;
