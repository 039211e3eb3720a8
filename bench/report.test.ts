import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markdownTable, row, versusNginx, type TargetRow } from './report.ts';

const rowOf = (rps: number | null): TargetRow => ({
  ...row(undefined, undefined, false),
  rps,
});

test('the table has a CPU-per-request column and both ratios to nginx', () => {
  const rows = { direct: rowOf(50000), trellis: rowOf(20000), nginx: rowOf(31250) };
  const table = markdownTable(rows, {}, {}, { trellis: 49.6, nginx: 24.8 });
  const lines = table.split('\n');
  assert.match(lines[0]!, /\| CPU µs\/req sat\. \|$/);
  assert.match(
    lines.find((l) => l.startsWith('| trellis '))!,
    /\| 49\.6 \|$/,
  );
  assert.match(
    lines.find((l) => l.startsWith('| direct '))!,
    /\| — \|$/,
  );
  assert.ok(
    lines.includes('trellis vs nginx in this run: 0.64× the req/s, 2.00× the CPU per request at saturation'),
    table,
  );
});

test('without nginx or its figures there is no ratio line', () => {
  assert.equal(versusNginx({ trellis: rowOf(20000) }, { trellis: 49.6 }), '');
  assert.equal(
    versusNginx({ trellis: rowOf(20000), nginx: rowOf(null) }, {}),
    '',
    'a target that failed has null figures',
  );
  assert.equal(
    versusNginx({ trellis: rowOf(20000), nginx: rowOf(40000) }, {}),
    'trellis vs nginx in this run: 0.50× the req/s',
  );
});
