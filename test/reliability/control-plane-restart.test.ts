// Reliability 1: the control plane is SIGKILLed under load, stays down a few seconds and is
// restarted on the same dir and port. The data plane keeps serving its last good config: zero
// failed requests; every proxy reconnects to the new process by itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { listProxies, listWorkloads } from '../mesh/client.ts';
import { up, waitUntil } from '../mesh/harness.ts';
import {
  assertNoFailures,
  loadFigures,
  note,
  secondsSince,
  sleepUntil,
  startApp,
  startLoad,
  startMesh,
  waitWorkloadsReady,
} from './support.ts';

const LOAD_S = 20;
const KILL_AT_S = 4;
const DOWN_S = 6;

test(
  'control plane SIGKILLed under load and restarted: zero failed requests, proxies reconnect',
  { timeout: 120_000 },
  async (t) => {
    const mesh = await startMesh(t);
    const servers = await Promise.all([startApp(mesh, 'server'), startApp(mesh, 'server')]);
    await waitWorkloadsReady(
      mesh,
      servers.map((s) => s.name),
    );
    const load = await startLoad(mesh, 'http://server/', LOAD_S);
    const names = [...servers.map((s) => s.name), load.client.name];

    await sleepUntil(load.startedAt + KILL_AT_S * 1000);
    const port = mesh.cp.port;
    mesh.cp.proc.signal('SIGKILL');
    assert.equal((await mesh.cp.proc.exited).signal, 'SIGKILL');
    const killedAt = Date.now();
    await sleep(DOWN_S * 1000);

    const restartedAt = Date.now();
    mesh.cp = await up(mesh.scope, { dir: 'cp', port });
    assert.equal(mesh.cp.url, mesh.api.url, 'same port, same URL');
    const listeningAt = Date.now();
    await waitUntil(
      'every proxy reconnected and ACKing',
      async () => {
        const proxies = await listProxies(mesh.cp.url);
        const back = names.every((n) => proxies.some((p) => p.workload === n && p.acked !== undefined));
        return back ? true : undefined;
      },
      30_000,
      100,
    );
    const reconnectS = secondsSince(listeningAt);
    // The registry is rebuilt from the sidecars' hellos: every workload is back.
    assert.deepEqual(
      (await listWorkloads(mesh.cp.url)).map((w) => w.metadata.name).sort(),
      [...names].sort(),
    );
    assert.ok(Date.now() < load.startedAt + LOAD_S * 1000, 'the proxies were back while the load still ran');

    const figures = loadFigures(await load.result);
    note(t, 'control-plane restart', {
      down_s: Number(((restartedAt - killedAt) / 1000).toFixed(2)),
      /** `trellis up` started → listening. */
      startup_s: Number(((listeningAt - restartedAt) / 1000).toFixed(2)),
      /** Listening → every proxy connected again and ACKing its snapshot. */
      reconnect_s: reconnectS,
      ...figures,
    });
    assertNoFailures(figures);
  },
);
