// histogramQuantile against hand-computed answers: Prometheus' interpolation inside the bucket,
// the first bucket starting at 0, the +Inf bucket answering the highest finite bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATENCY_BOUNDS } from '../../metrics/histogram.ts';
import { histogramQuantile } from './quantile.ts';

function counts(entries: [slot: number, n: number][]): Float64Array {
  const c = new Float64Array(LATENCY_BOUNDS.length + 1);
  for (const [slot, n] of entries) c[slot] = n;
  return c;
}

test('interpolates linearly inside the bucket where the rank falls', () => {
  const c = counts([[3, 10]]); // ten observations in (0.5, 1] ms
  assert.equal(histogramQuantile(0.5, LATENCY_BOUNDS, c), 0.75);
  assert.equal(histogramQuantile(0.9, LATENCY_BOUNDS, c), 0.95);
  assert.equal(histogramQuantile(0.99, LATENCY_BOUNDS, c), 0.995);
});

test('the first bucket starts at 0; empty buckets in between are skipped', () => {
  const c = counts([
    [0, 4], // (0, 0.1]
    [6, 4], // (5, 10]
  ]);
  assert.equal(histogramQuantile(0.5, LATENCY_BOUNDS, c), 0.1);
  assert.equal(histogramQuantile(0.25, LATENCY_BOUNDS, c), 0.05);
  assert.equal(histogramQuantile(0.75, LATENCY_BOUNDS, c), 7.5);
});

test('a rank in +Inf answers the highest finite bound; no observations answer null', () => {
  assert.equal(histogramQuantile(0.5, LATENCY_BOUNDS, counts([[17, 1]])), 30000);
  assert.equal(
    histogramQuantile(
      0.99,
      LATENCY_BOUNDS,
      counts([
        [2, 99],
        [17, 1],
      ]),
    ),
    0.5,
  );
  assert.equal(
    histogramQuantile(
      0.999,
      LATENCY_BOUNDS,
      counts([
        [2, 99],
        [17, 1],
      ]),
    ),
    30000,
  );
  assert.equal(histogramQuantile(0.5, LATENCY_BOUNDS, counts([])), null);
});
