// The parts of a snapshot that belong to one proxy: its listeners, the inbound route to its app,
// its admin port and identity.
import { Listener, ProxyConfig, type Cluster, type RouteTable } from '../../model/schema.ts';
import type { InboundSecurity } from '../../model/security.ts';
import type { WorkloadInboundSecurity } from './compiler.ts';
import type { WorkloadResource } from '../../resources/kinds.ts';
import { INBOUND_APP_CLUSTER, inboundAppCluster } from './clusters.ts';

export const OUTBOUND_LISTENER = 'outbound';
export const INBOUND_LISTENER = 'inbound';
export const OUTBOUND_ROUTE_TABLE = 'outbound';
export const INBOUND_ROUTE_TABLE = 'inbound';

const CONFIG_DEFAULTS = ProxyConfig.parse({});
const LISTENER_DEFAULTS = Listener.parse({ name: 'defaults', direction: 'inbound', port: 0 });

function listener(
  name: string,
  direction: Listener['direction'],
  address: string,
  port: number,
  protocol: Listener['protocol'],
  target: { routeTable: string } | { tcpCluster: string },
): Listener {
  return {
    name,
    direction,
    address,
    port,
    protocol,
    ...target,
    detectTimeout: LISTENER_DEFAULTS.detectTimeout,
    headersTimeout: LISTENER_DEFAULTS.headersTimeout,
    idleTimeout: LISTENER_DEFAULTS.idleTimeout,
    maxHeaderBytes: LISTENER_DEFAULTS.maxHeaderBytes,
  };
}

export interface LocalParts {
  node: ProxyConfig['node'];
  admin: ProxyConfig['admin'];
  drainTimeout: number;
  listeners: Listener[];
  /** The inbound route table (none for a tcp workload). */
  routeTables: RouteTable[];
  clusters: Cluster[];
  inboundSecurity: InboundSecurity;
}

export function localParts(w: WorkloadResource, security?: WorkloadInboundSecurity): LocalParts {
  const { ports, protocol, address } = w.spec;
  const listeners: Listener[] = [];
  if (ports.outbound !== undefined) {
    // `http` takes HTTP/1.1 (origin-form, absolute-form from HTTP_PROXY clients, CONNECT) and h2c.
    listeners.push(
      listener(OUTBOUND_LISTENER, 'outbound', '127.0.0.1', ports.outbound, 'http', {
        routeTable: OUTBOUND_ROUTE_TABLE,
      }),
    );
  }
  const routeTables: RouteTable[] = [];
  if (protocol === 'tcp') {
    listeners.push(
      listener(INBOUND_LISTENER, 'inbound', address, ports.inbound, 'tcp', {
        tcpCluster: INBOUND_APP_CLUSTER,
      }),
    );
  } else {
    // detect: peers may speak HTTP/1.1 or h2 whatever the app speaks; the app cluster converts.
    listeners.push(
      listener(INBOUND_LISTENER, 'inbound', address, ports.inbound, 'detect', {
        routeTable: INBOUND_ROUTE_TABLE,
      }),
    );
    routeTables.push({
      name: INBOUND_ROUTE_TABLE,
      virtualHosts: [
        {
          name: 'inbound',
          domains: ['*'],
          routes: [{ name: 'inbound', backends: [{ cluster: INBOUND_APP_CLUSTER, weight: 1 }] }],
        },
      ],
    });
  }
  // Mesh mTLS on the inbound side (DISABLE: plaintext only, as without a CA).
  const inbound = listeners.find((l) => l.name === INBOUND_LISTENER);
  if (inbound !== undefined && security !== undefined && security.mtls !== 'DISABLE')
    inbound.mtls = { mode: security.mtls };
  return {
    node: {
      id: w.metadata.name,
      service: w.spec.service,
      namespace: w.metadata.namespace,
      // Metrics name a workload by app and version (instances of one deployment share it).
      workload: `${w.metadata.labels.app}-${w.metadata.labels.version}`,
      version: w.metadata.labels.version,
    },
    admin: { address: '127.0.0.1', port: ports.admin ?? 0 },
    drainTimeout: CONFIG_DEFAULTS.drainTimeout,
    listeners,
    routeTables,
    clusters: [inboundAppCluster(w)],
    inboundSecurity: security?.inbound ?? { jwtRules: [], authorization: [] },
  };
}
