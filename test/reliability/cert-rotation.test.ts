// Reliability 4: certificates rotate under load. `trellis up --cert-ttl 1m`: leaves are backdated a
// minute, so every sidecar renews about every 20 s (2/3 of their 2 min validity). Mid-load the
// root rotates (`trellis ca rotate`, wait until no connected proxy holds an old-root certificate,
// `trellis ca finish-rotation`), then a new instance joins holding a new-root certificate only and
// takes mTLS traffic. Zero failed requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { trellisOk, waitUntil, type WorkloadProcess } from '../mesh/harness.ts';
import {
  assertNoFailures,
  countLogs,
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

/** At most: the load stops once every sidecar renewed again after the rotation finished. */
const LOAD_MAX_S = 120;
const ROTATE_AT_S = 20;
const RENEWED = 'workload certificate renewed';

const CaInfo = z.object({
  roots: z.array(z.object({ fingerprint: z.string(), current: z.boolean() })),
  rotation: z.object({ inProgress: z.boolean(), pending: z.array(z.unknown()) }),
});

async function ca(url: string, ...command: string[]): Promise<z.infer<typeof CaInfo>> {
  const out = await trellisOk([
    'ca',
    ...(command.length > 0 ? command : ['info']),
    '--control',
    url,
    '-o',
    'json',
  ]);
  return CaInfo.parse(JSON.parse(out));
}

/** mTLS requests a sidecar answered as the destination (its trellis_edge_requests_total, mtls="true"). */
async function mtlsRequestsServed(w: WorkloadProcess): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${w.ports.admin}/metrics`, { signal: AbortSignal.timeout(5000) });
  let n = 0;
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('trellis_edge_requests_total{reporter="destination"')) continue;
    if (line.includes('mtls="true"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

test(
  'leaf renewals and a root rotation under load: zero failed requests',
  { timeout: 180_000 },
  async (t) => {
    const mesh = await startMesh(t, ['--cert-ttl', '1m']);
    const url = mesh.cp.url;
    const servers = await Promise.all([startApp(mesh, 'server'), startApp(mesh, 'server')]);
    await waitWorkloadsReady(
      mesh,
      servers.map((s) => s.name),
    );
    const oldRoot = (await ca(url)).roots[0]?.fingerprint;
    assert.ok(oldRoot !== undefined);
    const load = await startLoad(mesh, 'http://server/', LOAD_MAX_S);
    const initial = [...servers, load.client];

    await sleepUntil(load.startedAt + ROTATE_AT_S * 1000);
    const rotating = Date.now();
    const rotated = await ca(url, 'rotate');
    assert.equal(rotated.roots.length, 2, 'old and new root trusted during the rotation');
    const newRoot = rotated.roots.find((r) => r.current)?.fingerprint;
    assert.ok(newRoot !== undefined && newRoot !== oldRoot);
    await waitUntil(
      'every connected proxy to hold a new-root certificate',
      async () => ((await ca(url)).rotation.pending.length === 0 ? true : undefined),
      30_000,
      200,
    );
    const renewedS = secondsSince(rotating);
    const finished = await ca(url, 'finish-rotation');
    assert.deepEqual(
      finished.roots.map((r) => r.fingerprint),
      [newRoot],
      'only the new root is trusted',
    );
    const finishedAt = Date.now();
    const finishedS = secondsSince(rotating);

    // A workload that never knew the old root joins: new mTLS connections, both ways on the new root.
    const joined = await startApp(mesh, 'server');
    await waitWorkloadsReady(mesh, [joined.name]);
    await waitUntil(`${joined.name} in the caller's endpoints`, async () =>
      (await healthyEndpoints(load.client.ports.admin, 'server')).includes(joined.ports.inbound)
        ? true
        : undefined,
    );
    await waitUntil(`${joined.name} to serve mTLS requests`, async () =>
      (await mtlsRequestsServed(joined)) > 0 ? true : undefined,
    );

    // Every initial sidecar renews again on schedule, now that only the new root is trusted.
    const renewedSince = (w: WorkloadProcess, since: number): number =>
      w.proc.logs().filter((l) => l.msg === RENEWED && l.pid === w.sidecarPid && Number(l.time) > since)
        .length;
    await waitUntil(
      'a scheduled renewal of every sidecar after the rotation',
      () => (initial.every((w) => renewedSince(w, finishedAt) > 0) ? true : undefined),
      40_000,
      250,
    );
    await sleep(1000);
    const edges = await failedEdges(load.client.ports.admin);
    const figures = loadFigures(await load.stop());
    const renewals = initial.map((w) => countLogs(w.proc, RENEWED, w.sidecarPid));
    if (figures.failed > 0) note(t, 'non-2xx seen by the caller', edges);
    note(t, 'certificate rotation', {
      /** Leaf renewals per initial sidecar (2 servers, the client), the rotation's included. */
      renewals,
      /** `ca rotate` → no connected proxy left on the old root; → `finish-rotation` done. */
      rotation_renewed_s: renewedS,
      rotation_finished_s: finishedS,
      joined_mtls_requests: await mtlsRequestsServed(joined).catch(() => -1),
      ...figures,
    });
    assertNoFailures(figures);
    // The rotation's renewal and scheduled ones after it (and usually before it).
    for (const [i, n] of renewals.entries()) assert.ok(n >= 2, `${initial[i]!.name} renewed ${n} times`);
  },
);
