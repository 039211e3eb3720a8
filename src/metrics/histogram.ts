// Histogram buckets shared by the proxy's families, and the two halves of a histogram kept as
// plain numbers: find the bucket on the hot path, write the cumulative series at scrape time.
import type { SeriesValue } from './scraped-family.ts';

/** Upper bounds of the latency buckets, in milliseconds (+Inf is implicit): 0.1 ms to 30 s. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
]);

/** Upper bounds of the body size buckets, in bytes (+Inf is implicit): empty bodies to 16 MiB. */
export const BYTE_BUCKETS: readonly number[] = Object.freeze([
  0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
]);

export const LATENCY_BOUNDS = Float64Array.from(LATENCY_BUCKETS_MS);
export const BYTE_BOUNDS = Float64Array.from(BYTE_BUCKETS);

/** Index of the first bucket whose bound is >= v; bounds.length (the +Inf slot) past the last. */
export function bucketIndex(bounds: Float64Array, v: number): number {
  const n = bounds.length;
  let i = 0;
  while (i < n && v > bounds[i]!) i++;
  return i;
}

/**
 * Appends `name`_bucket (cumulative, le=…), _sum and _count for non-cumulative `counts`
 * (bounds.length + 1 slots, the last one +Inf).
 */
export function pushHistogram(
  out: SeriesValue[],
  name: string,
  labels: Readonly<Record<string, string>>,
  bounds: Float64Array,
  counts: Float64Array,
  sum: number,
): void {
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += counts[i]!;
    const le = i < bounds.length ? bounds[i]! : '+Inf';
    out.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` });
  }
  out.push({ labels: { ...labels }, value: sum, metricName: `${name}_sum` });
  out.push({ labels: { ...labels }, value: cumulative, metricName: `${name}_count` });
}
