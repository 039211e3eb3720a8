// The proxy configs of the resilience scenario: one http1 listener, one GET route to a cluster of
// the three upstream instances. `without` is the proxy as configured by default (no retries, no
// outlier detection); `with` adds the route's retries and hedging and the cluster's outlier
// detection. Both keep the default balancer (ewma), so the only difference is the policy.
import type { ProxyConfigInput } from '../../src/model/schema.ts';

export type Variant = 'without' | 'with';

/** The policy values of the `with` run, printed with the results. */
export const WITH_POLICY = {
  retries: {
    attempts: 2,
    // The slow instance answers after 200 ms: a try still waiting at 100 ms goes elsewhere.
    perTryTimeout: '100ms',
    retryOn: ['connect-failure', 'reset', '5xx', 'gateway-error'],
    // A refused connect on loopback fails in microseconds: waiting 25 ms (the default base) before
    // trying a healthy instance would only add latency.
    backoff: { base: '1ms', max: '10ms' },
    // Hedges draw on the same budget: Linkerd's 20 % would let a burst of hedges (a busy machine
    // makes many answers late) starve the retries of a crash. 50 % still bounds the extra load.
    budget: { ratio: 0.5, minRetriesPerSecond: 20, ttl: '10s' },
  },
  // A try with no answer after the route's observed p95 (no fixed delay) gets a second one on another
  // instance; the first answer wins, the other is cancelled. A fixed delay (5 ms was tried) hedges
  // nearly every request when a busy machine stalls the proxy, and the hedges then spend the
  // budget the retries of a crash need; the p95 follows the machine.
  hedge: { maxHedges: 1 },
  outlierDetection: {
    // Two failures in a row before any answer (refused, reset) eject the instance at once.
    consecutiveGatewayErrors: 2,
    consecutive5xx: 3,
    interval: '500ms',
    baseEjectionTime: '2s',
    // One instance of three.
    maxEjectionPercent: 34,
  },
} as const;

export interface ConfigPorts {
  port: number;
  adminPort: number;
  upstreamPorts: readonly number[];
}

export function resilienceConfig(variant: Variant, o: ConfigPorts): ProxyConfigInput {
  const withPolicy = variant === 'with';
  return {
    version: `resilience-${variant}`,
    node: { id: `bench-resilience-${variant}` },
    admin: { address: '127.0.0.1', port: o.adminPort },
    listeners: [
      {
        name: 'resilience',
        direction: 'outbound',
        address: '127.0.0.1',
        port: o.port,
        protocol: 'http1',
        routeTable: 'resilience',
      },
    ],
    routeTables: [
      {
        name: 'resilience',
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [
              {
                name: 'get',
                match: { methods: ['GET'] },
                backends: [{ cluster: 'instances' }],
                ...(withPolicy
                  ? {
                      retries: {
                        ...WITH_POLICY.retries,
                        retryOn: [...WITH_POLICY.retries.retryOn],
                        backoff: { ...WITH_POLICY.retries.backoff },
                        budget: { ...WITH_POLICY.retries.budget },
                      },
                      hedge: { ...WITH_POLICY.hedge },
                    }
                  : {}),
              },
            ],
          },
        ],
      },
    ],
    clusters: [
      {
        name: 'instances',
        protocol: 'http1',
        endpoints: o.upstreamPorts.map((port) => ({ address: '127.0.0.1', port })),
        ...(withPolicy ? { outlierDetection: { ...WITH_POLICY.outlierDetection } } : {}),
      },
    ],
  };
}
