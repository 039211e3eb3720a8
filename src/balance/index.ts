// Load balancers: one Balancer per cluster (or per endpoint set), built once per config.
// createBalancer picks the implementation for an LbPolicy; the endpoint objects carry the shared
// load signals that onRequestStart / onRequestEnd maintain.
import type { LbPolicy } from '../model/schema.ts';
import { isTrackedEndpoint, type LbEndpoint } from './endpoint.ts';
import { MaglevBalancer } from './maglev.ts';
import { RingHashBalancer } from './ring-hash.ts';
import { EwmaBalancer, LeastRequestBalancer, RandomBalancer, RoundRobinBalancer } from './simple.ts';
import type { Balancer, BalancerOptions } from './types.ts';

export type { Balancer, BalancerOptions } from './types.ts';
export {
  createLbEndpoint,
  isAvailable,
  onRequestStart,
  onRequestAbandoned,
  onRequestEnd,
  reconcileEndpoints,
  DEFAULT_RTT_MS,
  EWMA_DECAY_MS,
  FAILURE_PENALTY_MS,
  type LbEndpoint,
  type OutlierState,
} from './endpoint.ts';
export { hashKeyFor } from './hash-key.ts';
export { DEFAULT_RING_SIZE } from './ring-hash.ts';
export { DEFAULT_MAGLEV_SIZE } from './maglev.ts';
export { murmur3String } from './hash.ts';

const defaultNow = (): number => performance.now();

/**
 * A balancer over `endpoints` (made by createLbEndpoint: their health changes are tracked).
 * Everything the policy needs is precomputed here; pick() allocates nothing.
 */
export function createBalancer(
  policy: LbPolicy,
  endpoints: readonly LbEndpoint[],
  opts: BalancerOptions = {},
): Balancer {
  for (const ep of endpoints) {
    if (!isTrackedEndpoint(ep)) throw new TypeError(`endpoint ${ep.key} was not made by createLbEndpoint`);
  }
  const list = endpoints.slice();
  const random = opts.random ?? Math.random;
  const panic = opts.panicThreshold ?? 0;
  switch (policy) {
    case 'round_robin':
      return new RoundRobinBalancer(list, random, panic);
    case 'random':
      return new RandomBalancer(list, random, panic);
    case 'least_request':
      return new LeastRequestBalancer(list, random, panic);
    case 'ewma':
      return new EwmaBalancer(list, random, opts.now ?? defaultNow, panic);
    case 'ring_hash':
      return new RingHashBalancer(list, random, opts.tableSize, panic);
    case 'maglev':
      return new MaglevBalancer(list, random, opts.tableSize, panic);
  }
  throw new TypeError(`unknown load-balancing policy ${String(policy)}`);
}
