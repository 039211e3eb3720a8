// Reliability 2: a rolling restart of every instance of a service under load. One at a time:
// SIGTERM to `trellis run` (graceful: the sidecar deregisters and drains), wait until it exited,
// start a replacement, wait until it is ready and in the caller's endpoints. Zero failed requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil, type WorkloadProcess } from '../mesh/harness.ts';
import {
  assertNoFailures,
  failedEdges,
  healthyEndpoints,
  loadFigures,
  note,
  secondsSince,
  sleepUntil,
  startApp,
  startLoad,
  startMesh,
  waitWorkloadsReady,
} from './support.ts';

const INSTANCES = 3;
/** At most: the load stops once the rollout is done (and a little after). */
const LOAD_MAX_S = 150;
const ROLL_AT_S = 3;
const AFTER_S = 2;

test('rolling restart of 3 instances under load: zero failed requests', { timeout: 240_000 }, async (t) => {
  const mesh = await startMesh(t);
  const old = await Promise.all(Array.from({ length: INSTANCES }, () => startApp(mesh, 'server')));
  await waitWorkloadsReady(
    mesh,
    old.map((s) => s.name),
  );
  const load = await startLoad(mesh, 'http://server/', LOAD_MAX_S);
  const caller = load.client.ports.admin;
  await waitUntil('the caller knows every instance', async () => {
    const ports = await healthyEndpoints(caller, 'server');
    return old.every((s) => ports.includes(s.ports.inbound)) ? true : undefined;
  });

  await sleepUntil(load.startedAt + ROLL_AT_S * 1000);
  const at = (): number => Number(((Date.now() - load.startedAt) / 1000).toFixed(2));
  const steps: { sigterm_at_s: number; stop_s: number; start_s: number; ready_s: number }[] = [];
  const replacements: WorkloadProcess[] = [];
  for (const instance of old) {
    const stopping = Date.now();
    const sigtermAt = at();
    instance.proc.signal('SIGTERM');
    const exit = await instance.proc.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `${instance.name} stopped cleanly`);
    const stopS = secondsSince(stopping);
    const starting = Date.now();
    const next = await startApp(mesh, 'server');
    replacements.push(next);
    const startS = secondsSince(starting);
    await waitWorkloadsReady(mesh, [next.name]);
    await waitUntil(`${next.name} in the caller's endpoints`, async () => {
      const ports = await healthyEndpoints(caller, 'server');
      return ports.includes(next.ports.inbound) && !ports.includes(instance.ports.inbound) ? true : undefined;
    });
    steps.push({ sigterm_at_s: sigtermAt, stop_s: stopS, start_s: startS, ready_s: secondsSince(starting) });
  }
  const ports = await healthyEndpoints(caller, 'server');
  assert.deepEqual([...ports].sort(), replacements.map((r) => r.ports.inbound).sort());
  await sleep(AFTER_S * 1000);
  const edges = await failedEdges(caller);
  const figures = loadFigures(await load.stop());
  if (figures.failed > 0) note(t, 'non-2xx seen by the caller', edges);
  note(t, 'rolling restart', {
    instances: INSTANCES,
    /** Per instance: SIGTERM → exited; replacement started → sidecar serving; → ready in the caller. */
    steps,
    ...figures,
  });
  assertNoFailures(figures);
});
