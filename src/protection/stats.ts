// The series one cluster's protection writes to, taken once when the cluster is built (never per
// request). Without PolicyStats (a cluster built outside a proxy) the series are detached objects.
import type { PolicyStats, Series } from '../metrics/policy-stats.ts';

/** Labels of trellis_overflow_total{limit}: the config field that refused the request. */
export type OverflowLimit =
  'maxConcurrentRequests' | 'maxPendingRequests' | 'maxConcurrentRetries' | 'adaptive';

/** Labels of trellis_ejections_total{detector}. */
export type EjectionDetector =
  'consecutive5xx' | 'consecutiveGatewayErrors' | 'successRate' | 'failurePercentage';

export interface ProtectionSeries {
  overflow: Record<OverflowLimit, Series>;
  ejections: Record<EjectionDetector, Series>;
  /** Gauge: endpoints ejected now. */
  ejected: Series;
  healthCheckFailures: Series;
  /** Gauge: the adaptive concurrency limit now. */
  concurrencyLimit: Series;
}

const detached = (): Series => ({ value: 0 });

export function protectionSeries(policy: PolicyStats | undefined, cluster: string): ProtectionSeries {
  const overflow = (limit: OverflowLimit): Series =>
    policy ? policy.overflow.series({ cluster, limit }) : detached();
  const ejections = (detector: EjectionDetector): Series =>
    policy ? policy.ejections.series({ cluster, detector }) : detached();
  return {
    overflow: {
      maxConcurrentRequests: overflow('maxConcurrentRequests'),
      maxPendingRequests: overflow('maxPendingRequests'),
      maxConcurrentRetries: overflow('maxConcurrentRetries'),
      adaptive: overflow('adaptive'),
    },
    ejections: {
      consecutive5xx: ejections('consecutive5xx'),
      consecutiveGatewayErrors: ejections('consecutiveGatewayErrors'),
      successRate: ejections('successRate'),
      failurePercentage: ejections('failurePercentage'),
    },
    ejected: policy ? policy.ejectedEndpoints.series({ cluster }) : detached(),
    healthCheckFailures: policy ? policy.healthCheckFailures.series({ cluster }) : detached(),
    concurrencyLimit: policy ? policy.concurrencyLimit.series({ cluster }) : detached(),
  };
}
