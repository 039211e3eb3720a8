// Quantiles of a bucketed histogram, interpolated as Prometheus' histogram_quantile() does: find
// the bucket where the rank falls and assume its observations spread evenly between its bounds
// (the first bucket starts at 0). A rank in the +Inf bucket answers the highest finite bound.

/**
 * The `q` quantile (0..1) of non-cumulative `counts` (bounds.length + 1 slots, the last one +Inf),
 * or null when there are no observations.
 */
export function histogramQuantile(
  q: number,
  bounds: ArrayLike<number>,
  counts: ArrayLike<number>,
): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (!(total > 0)) return null;
  if (q <= 0) return 0;
  if (q >= 1) q = 1;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      if (i === 0 && upper <= 0) return upper;
      return lower + (upper - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1]!;
}
