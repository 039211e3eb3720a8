// Resource builders for the snapshot tests; every resource goes through its schema, as applied ones do.
import { parseConfigText } from '../../model/load.ts';
import type { ProxyConfig } from '../../model/schema.ts';
import {
  ServiceResource,
  TrafficPolicyResource,
  TrafficRouteResource,
  WorkloadResource,
  type WorkloadProtocol,
} from '../../resources/kinds.ts';
import type { MeshState } from './compiler.ts';

export interface WorkloadOptions {
  namespace?: string;
  version?: string;
  address?: string;
  protocol?: WorkloadProtocol;
  ready?: boolean;
  inbound?: number;
  outbound?: number | null;
  app?: number;
  servicePort?: number;
  admin?: number;
  locality?: { region?: string; zone?: string };
}

export function workload(name: string, service: string, o: WorkloadOptions = {}): WorkloadResource {
  return WorkloadResource.parse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'Workload',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      labels: { app: service, version: o.version ?? 'v1' },
    },
    spec: {
      service,
      serviceAccount: service,
      address: o.address ?? '10.0.0.1',
      ports: {
        inbound: o.inbound ?? 15006,
        ...(o.outbound === null ? {} : { outbound: o.outbound ?? 15001 }),
        ...(o.admin === undefined ? {} : { admin: o.admin }),
        app: o.app ?? 9080,
        ...(o.servicePort === undefined ? {} : { service: o.servicePort }),
      },
      protocol: o.protocol ?? 'http',
      ...(o.locality === undefined ? {} : { locality: o.locality }),
      ready: o.ready ?? true,
    },
  });
}

export function service(
  name: string,
  selector: Record<string, string> | undefined,
  ports: { port: number; name?: string; appProtocol?: string }[] = [{ port: 9080 }],
  namespace = 'default',
): ServiceResource {
  return ServiceResource.parse({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { ...(selector === undefined ? {} : { selector }), ports },
  });
}

export function trafficRoute(name: string, spec: unknown, namespace = 'default'): TrafficRouteResource {
  return TrafficRouteResource.parse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'TrafficRoute',
    metadata: { name, namespace },
    spec,
  });
}

export function trafficPolicy(name: string, spec: unknown, namespace = 'default'): TrafficPolicyResource {
  return TrafficPolicyResource.parse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name, namespace },
    spec,
  });
}

export function meshState(parts: Partial<MeshState>): MeshState {
  return { services: [], workloads: [], routes: [], policies: [], ...parts };
}

/** The snapshot as the proxy would load it: throws a ConfigError listing every problem. */
export function asProxyWouldLoad(cfg: ProxyConfig): ProxyConfig {
  return parseConfigText(JSON.stringify(cfg), 'snapshot');
}
