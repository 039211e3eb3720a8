import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cpuSeconds, killTree, peakRssMb, processTree, spawnPinned } from './proc.ts';

// A node child that burns a little CPU, then starts a grandchild and idles.
const SCRIPT = `
const end = Date.now() + 200; while (Date.now() < end);
require('node:child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
console.log('ready'); setTimeout(() => {}, 30000);`;

test('CPU, peak RSS and the whole tree of a pinned child; killTree ends them all', async (t) => {
  const child = spawnPinned(0, process.execPath, ['-e', SCRIPT]);
  t.after(() => killTree(child.pid));
  await new Promise<void>((resolve) => child.child.stdout?.once('data', () => resolve()));
  let tree: number[] = [];
  for (let i = 0; i < 50 && tree.length < 2; i++) {
    tree = processTree(child.pid);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(tree.length, 2, 'child and grandchild');
  assert.ok(cpuSeconds([child.pid]) >= 0.1, 'the busy loop is counted');
  assert.ok(peakRssMb([child.pid]) > 20, 'two node processes hold more than 20 MB');
  killTree(child.pid);
  assert.notEqual(await child.exited, 0);
  const grandchild = tree[1] as number;
  for (let i = 0; i < 50; i++) {
    if (!isAlive(grandchild)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(isAlive(grandchild), false);
});

/** Running or sleeping; a killed process may stay a zombie until its new parent reaps it. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
