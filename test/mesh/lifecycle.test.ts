// `trellis run` keeps app and sidecar living and dying together, and the registry follows: an app
// that exits takes its workload out at once (the sidecar says bye); a sidecar that is killed takes
// the app down and its workload lapses with its heartbeat; SIGTERM and Ctrl-C stop both cleanly;
// a sidecar whose `run` is killed does not linger.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { listWorkloads, waitReady } from './client.ts';
import {
  alive,
  run,
  Scope,
  trellisOk,
  up,
  waitUntil,
  type ControlPlaneProcess,
  type WorkloadProcess,
} from './harness.ts';

describe('trellis run lifecycle', { concurrency: true, timeout: 90_000 }, () => {
  let scope: Scope | undefined;
  let cp: ControlPlaneProcess;
  before(async () => {
    scope = await Scope.open();
    cp = await up(scope, { dir: 'cp' });
  });
  after(() => scope?.close());

  /** Starts a fixture workload and waits until its app is ready; returns its app's port and PID. */
  const start = async (service: string): Promise<{ w: WorkloadProcess; appPort: number; appPid: number }> => {
    assert.ok(scope);
    const w = await run(scope, cp.url, { service });
    await waitReady(cp.url, [w.name]);
    const item = (await listWorkloads(cp.url)).find((i) => i.metadata.name === w.name);
    assert.ok(item);
    const res = await fetch(`http://127.0.0.1:${item.spec.ports.app}/env`);
    const { pid } = z.object({ pid: z.number() }).parse(await res.json());
    return { w, appPort: item.spec.ports.app, appPid: pid };
  };
  /** Whether `trellis get workloads` lists it. */
  const listed = async (name: string): Promise<boolean> =>
    (await trellisOk(['get', 'workloads', '--control', cp.url])).includes(name);

  test('the app exits 7: run exits 7 and the workload is gone at once', async () => {
    const { w, appPort } = await start('exiter');
    await fetch(`http://127.0.0.1:${appPort}/exit?code=7`).then((r) => r.text());
    const exit = await w.proc.exited;
    assert.deepEqual(exit, { code: 7, signal: null });
    assert.equal(await alive(w.sidecarPid), false);
    // No waiting: the sidecar deregistered before `run` returned.
    assert.equal(await listed(w.name), false);
  });

  test('the sidecar is SIGKILLed: the app is stopped, run fails, the workload lapses', async () => {
    const { w, appPid } = await start('orphan');
    process.kill(w.sidecarPid, 'SIGKILL');
    const exit = await w.proc.exited;
    await w.proc.closed;
    assert.notEqual(exit.code, 0);
    assert.match(w.proc.stderr, /the sidecar exited \(SIGKILL\); stopping the app/);
    assert.equal(await alive(appPid), false, 'no unmeshed app left running');
    // No bye was said: the registry drops it when its heartbeats stop (5 s stale + a sweep).
    await waitUntil(
      `${w.name} to leave the registry`,
      async () => ((await listWorkloads(cp.url)).some((i) => i.metadata.name === w.name) ? undefined : true),
      8000,
      200,
    );
    assert.equal(await listed(w.name), false);
  });

  test('SIGTERM to run stops app and sidecar cleanly', async () => {
    const { w, appPid } = await start('graceful');
    w.proc.signal('SIGTERM');
    const exit = await w.proc.exited;
    await w.proc.closed;
    // The fixture app exits 0 on SIGTERM; run reports the app's status.
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(await alive(appPid), false);
    assert.equal(await alive(w.sidecarPid), false);
    assert.ok(
      w.proc.logs().some((l) => l.msg === 'deregistering and draining' && l.pid === w.sidecarPid),
      'the sidecar drained',
    );
    assert.doesNotMatch(w.proc.stderr, /the sidecar exited/);
    assert.equal(await listed(w.name), false);
  });
  test('Ctrl-C (SIGINT to the whole process group) stops all three; run exits 130', async () => {
    const { w, appPid } = await start('interrupted');
    process.kill(-w.proc.pid, 'SIGINT');
    const exit = await w.proc.exited;
    assert.deepEqual(exit, { code: 130, signal: null });
    assert.equal(await alive(appPid), false);
    assert.equal(await alive(w.sidecarPid), false);
    assert.equal(await listed(w.name), false);
  });

  test('run is SIGKILLed: its sidecar sees the supervisor gone, deregisters and exits', async () => {
    const { w } = await start('unsupervised');
    w.proc.signal('SIGKILL');
    await w.proc.exited;
    await waitUntil(
      'the sidecar to exit',
      async () => ((await alive(w.sidecarPid)) ? undefined : true),
      10_000,
    );
    assert.equal(await listed(w.name), false);
  });
});
