// What the virtual IP allocator (allocator.ts) is given and says.

/** A service that wants a virtual IP. */
export interface VipDemand {
  /** `name.namespace`. */
  service: string;
  /** The Service's spec.clusterIP: an address to use as is; `None` (headless): no virtual IP. */
  clusterIP?: string | undefined;
}

/** Who wants virtual IPs: the mesh's services, as of a store revision. */
export interface VipSource {
  demand(): { services: readonly VipDemand[]; revision: number };
  onChange(listener: () => void): () => void;
}

export interface VipProblem {
  code: 'TRELLIS_VIP_RANGE_EXHAUSTED' | 'TRELLIS_VIP_CONFLICT';
  message: string;
}

export interface VirtualIpsOptions {
  /** IPv4 CIDR block; default 240.240.0.0/16. */
  range?: string | undefined;
  /** Waits this long after a change before allocating, so a burst costs one pass (default 20 ms). */
  debounceMs?: number;
  onProblem?: (service: string, problem: VipProblem) => void;
  onError?: (err: unknown) => void;
}
