// Reliability 3: config churn under load. Every second for a minute the TrafficRoute of `alpha`
// flips between a 50/50 split with `beta` and a header rule plus a 90/10 split; every sidecar
// recompiles and swaps its config each time. Zero failed requests, and the caller's sidecar
// memory stays flat: the median VmRSS of the last 10 s within 10 % of the first 10 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { apiApply } from '../../bench/control/trellis.ts';
import { percentile } from '../../bench/control/stats.ts';
import {
  assertNoFailures,
  configDump,
  countLogs,
  failedEdges,
  loadFigures,
  note,
  rssMb,
  sleepUntil,
  startApp,
  startLoad,
  startMesh,
  waitWorkloadsReady,
} from './support.ts';

const CHANGES = 60;
const WARM_S = 5;
const WINDOW_S = 10;
const LOAD_MAX_S = 120;

/** Variant 0: a 50/50 split; variant 1: x-canary to beta, the rest 90/10. */
function alphaRoute(variant: number): string {
  const split = (a: number, b: number): string =>
    `      backends: [{ service: alpha, weight: ${a} }, { service: beta, weight: ${b} }]\n`;
  const routes =
    variant === 0
      ? `    - name: split\n${split(50, 50)}`
      : `    - name: canary\n      match: { headers: [{ name: x-canary, exact: "1" }] }\n      backends: [{ service: beta }]\n` +
        `    - name: split\n${split(90, 10)}`;
  return [
    'apiVersion: trellis.io/v1alpha1',
    'kind: TrafficRoute',
    'metadata: { name: alpha, namespace: default }',
    'spec:',
    '  service: alpha',
    '  routes:',
    routes,
  ].join('\n');
}

const OutboundRoutes = z.array(
  z.object({
    name: z.string(),
    virtualHosts: z.array(z.object({ name: z.string(), routes: z.array(z.unknown()) })),
  }),
);

/** How many routes the caller's sidecar has for alpha (1 or 2: which variant it runs). */
async function alphaRoutes(adminPort: number): Promise<number | undefined> {
  const tables = OutboundRoutes.parse((await configDump(adminPort)).config.routeTables);
  const vh = tables.find((t) => t.name === 'outbound')?.virtualHosts.find((v) => v.name === 'alpha.default');
  return vh?.routes.length;
}

const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  ) ?? NaN;

test(
  'a config change every second for a minute under load: zero failed, memory flat',
  { timeout: 240_000 },
  async (t) => {
    const mesh = await startMesh(t);
    const apps = await Promise.all([startApp(mesh, 'alpha'), startApp(mesh, 'beta')]);
    await waitWorkloadsReady(
      mesh,
      apps.map((a) => a.name),
    );
    await apiApply(mesh.api, alphaRoute(0));
    const load = await startLoad(mesh, 'http://alpha/', LOAD_MAX_S);
    const client = load.client;
    await sleepUntil(load.startedAt + WARM_S * 1000);

    // One change a second (bounded: CHANGES), and the caller's RSS sampled just before each.
    const samples: { at: number; client: number; control: number }[] = [];
    const appliedBefore = countLogs(client.proc, 'snapshot applied', client.sidecarPid);
    const churnStart = Date.now();
    for (let i = 1; i <= CHANGES; i++) {
      samples.push({ at: Date.now(), client: rssMb(client.sidecarPid), control: rssMb(mesh.cp.proc.pid) });
      await apiApply(mesh.api, alphaRoute(i % 2));
      await sleepUntil(churnStart + i * 1000);
    }
    samples.push({ at: Date.now(), client: rssMb(client.sidecarPid), control: rssMb(mesh.cp.proc.pid) });
    const churnS = (Date.now() - churnStart) / 1000;
    // The last change (variant 0: one route) reached the caller.
    await sleep(1000);
    assert.equal(await alphaRoutes(client.ports.admin), 1);
    const applied = countLogs(client.proc, 'snapshot applied', client.sidecarPid) - appliedBefore;
    const edges = await failedEdges(client.ports.admin);
    const figures = loadFigures(await load.stop());

    const first = samples.filter((s) => s.at < churnStart + WINDOW_S * 1000);
    const last = samples.filter((s) => s.at >= churnStart + (churnS - WINDOW_S) * 1000);
    const rss = {
      client_first_mb: median(first.map((s) => s.client)),
      client_last_mb: median(last.map((s) => s.client)),
      client_max_mb: Math.max(...samples.map((s) => s.client)),
      control_first_mb: median(first.map((s) => s.control)),
      control_last_mb: median(last.map((s) => s.control)),
      client_every_5s_mb: samples.filter((_, i) => i % 5 === 0).map((s) => s.client),
    };
    const growth = (rss.client_last_mb - rss.client_first_mb) / rss.client_first_mb;
    if (figures.failed > 0) note(t, 'non-2xx seen by the caller', edges);
    note(t, 'config churn', {
      changes: CHANGES,
      churn_s: Number(churnS.toFixed(1)),
      snapshots_applied_by_caller: applied,
      ...rss,
      client_growth_pct: Number((growth * 100).toFixed(1)),
      ...figures,
    });
    assertNoFailures(figures);
    // Pushes are debounced (50 ms), not merged across a second: every change reached the caller.
    assert.ok(applied >= CHANGES * 0.9, `the caller applied ${applied} snapshots for ${CHANGES} changes`);
    assert.ok(
      Math.abs(growth) <= 0.1,
      `caller sidecar RSS ${rss.client_first_mb} → ${rss.client_last_mb} MB`,
    );
  },
);
