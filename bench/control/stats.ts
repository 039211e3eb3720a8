// Percentiles of small samples (hundreds to a few hundred thousand values), nearest-rank.

export interface Summary {
  n: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

/** Nearest-rank percentile of ascending `sorted`; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

const r3 = (v: number | undefined): number | null => (v === undefined ? null : Number(v.toFixed(3)));

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50_ms: r3(percentile(sorted, 50)),
    p90_ms: r3(percentile(sorted, 90)),
    p99_ms: r3(percentile(sorted, 99)),
    max_ms: r3(sorted[sorted.length - 1]),
  };
}
