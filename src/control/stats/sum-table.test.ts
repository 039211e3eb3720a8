// SumTable: rows by key in one array that grows, and the sum of two tables.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SumTable } from './sum-table.ts';

test('rows keep their values while the storage grows; addAll sums by key', () => {
  const a = new SumTable<string>(2, 1);
  for (let i = 0; i < 100; i++) {
    const at = a.row(`k${i}`);
    a.values[at] = i;
    a.values[at + 1] = 2 * i;
  }
  assert.equal(a.size, 100);
  assert.equal(a.row('k7'), 14, 'a known key keeps its row');
  assert.deepEqual([...a.values.subarray(a.find('k99'), a.find('k99') + 2)], [99, 198]);
  assert.equal(a.find('nope'), -1);
  const b = new SumTable<string>(2);
  b.values[b.row('k99')] = 1;
  b.values[b.row('new') + 1] = 5;
  a.addAll(b);
  assert.deepEqual([...a.values.subarray(a.find('k99'), a.find('k99') + 2)], [100, 198]);
  assert.deepEqual([...a.values.subarray(a.find('new'), a.find('new') + 2)], [0, 5]);
});
