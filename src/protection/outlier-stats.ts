// The two statistical detectors of outlier detection, over one interval's answers per endpoint
// (LbEndpoint.outlier.requests / .failures). Endpoints already ejected or with fewer answers than
// requestVolume take no part, and nothing is ejected unless at least minHosts endpoints do.
import type { LbEndpoint } from '../balance/index.ts';
import type { OutlierDetection } from '../model/policy.ts';

type SuccessRate = NonNullable<OutlierDetection['successRate']>;
type FailurePercentage = NonNullable<OutlierDetection['failurePercentage']>;

function eligible(endpoints: readonly LbEndpoint[], requestVolume: number): LbEndpoint[] {
  return endpoints.filter((ep) => !ep.ejected && ep.outlier.requests >= requestVolume);
}

function successRate(ep: LbEndpoint): number {
  const o = ep.outlier;
  return (100 * (o.requests - o.failures)) / o.requests;
}

/**
 * Envoy's success-rate detector: endpoints whose success rate is below mean − stdevFactor × stdev
 * of the eligible endpoints' rates (population standard deviation).
 */
export function successRateOutliers(endpoints: readonly LbEndpoint[], c: SuccessRate): LbEndpoint[] {
  const hosts = eligible(endpoints, c.requestVolume);
  if (hosts.length === 0 || hosts.length < c.minHosts) return [];
  const rates = hosts.map(successRate);
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const variance = rates.reduce((a, r) => a + (r - mean) ** 2, 0) / rates.length;
  const threshold = mean - c.stdevFactor * Math.sqrt(variance);
  return hosts.filter((_, i) => rates[i]! < threshold);
}

/** Envoy's failure-percentage detector: endpoints whose failure percentage reaches the threshold. */
export function failurePercentageOutliers(
  endpoints: readonly LbEndpoint[],
  c: FailurePercentage,
): LbEndpoint[] {
  const hosts = eligible(endpoints, c.requestVolume);
  if (hosts.length === 0 || hosts.length < c.minHosts) return [];
  return hosts.filter((ep) => 100 - successRate(ep) >= c.threshold);
}
