import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentile, summarize } from './stats.ts';

test('nearest-rank percentiles, and nulls for no data', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
  assert.deepEqual(summarize(values), { n: 100, p50_ms: 50, p90_ms: 90, p99_ms: 99, max_ms: 100 });
  assert.equal(percentile([1, 2, 3], 99), 3);
  assert.equal(percentile([1, 2, 3], 0), 1);
  assert.equal(percentile([], 50), undefined);
  assert.deepEqual(summarize([]), { n: 0, p50_ms: null, p90_ms: null, p99_ms: null, max_ms: null });
});
