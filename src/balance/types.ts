import type { LbPolicy } from '../model/schema.ts';
import type { LbEndpoint } from './endpoint.ts';

export interface Balancer {
  readonly policy: LbPolicy;
  /**
   * The endpoint for the next request; undefined when no endpoint is available (healthy, not
   * ejected, passing health checks; in panic mode, healthy by config). hashKey only matters
   * for ring_hash and maglev; without it they fall back to a weighted random healthy pick.
   */
  pick(hashKey?: string): LbEndpoint | undefined;
}

export interface BalancerOptions {
  /**
   * ring_hash: minimum number of ring points (default 1024; the ring holds up to twice that);
   * maglev: table size (default 65537, rounded up to a prime).
   */
  tableSize?: number;
  /** Clock in ms for the ewma policy (default performance.now); tests inject one. */
  now?: () => number;
  /** Uniform random in [0, 1) (default Math.random); tests inject a seeded one. */
  random?: () => number;
  /**
   * Panic mode (Envoy's healthy_panic_threshold): when fewer than this percentage of the endpoints
   * are available, pick among all the config calls healthy, ejected or not. Default 0: off.
   */
  panicThreshold?: number;
}
