// Points of /api/v1/stats/series as charts draw them.
import type { SeriesPoint } from '../../types.ts';

/**
 * The points without a trailing bucket still in progress: sidecars report every 10 s, so the bucket
 * that started less than a step ago mostly holds nothing yet and would draw a false drop to zero.
 */
export function settledPoints(points: SeriesPoint[], stepMs: number, now = Date.now()): SeriesPoint[] {
  const last = points.at(-1);
  return last !== undefined && last.t + stepMs > now ? points.slice(0, -1) : points;
}
