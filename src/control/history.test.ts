// Config history through the real API on a real store: every apply and delete is recorded with its
// author; diff shows what changed between revisions; rollback restores a revision in one step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HistoryEntry, ResourceDiff } from './history.ts';
import { api, httpRequest, startTestControlPlane } from './testing.ts';

const route = (v1: number, v2: number): string => `apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: reviews-split }
spec:
  service: reviews
  routes:
    - backends: [{ service: reviews-v1, weight: ${v1} }, { service: reviews-v2, weight: ${v2} }]
`;
const svc = `apiVersion: v1
kind: Service
metadata: { name: extra }
spec: { selector: { app: extra }, ports: [{ port: 80 }] }
`;

interface Summary {
  revision: number;
  author: string;
  action: string;
  source: string;
  changes: { key: string; change: string }[];
}

async function applyAs(base: string, author: string, file: string, text: string): Promise<void> {
  const res = await httpRequest(`${base}/api/v1/apply?file=${file}`, {
    method: 'POST',
    body: text,
    headers: { 'content-type': 'application/yaml', 'x-trellis-author': author },
  });
  assert.equal(res.status, 200, res.text);
}

async function weights(base: string): Promise<number[]> {
  const r = await api<{ spec: { routes: { backends: { weight: number }[] }[] } }>(
    base,
    'GET',
    '/api/v1/resources/TrafficRoute/default/reviews-split',
  );
  return r.body.spec.routes[0]!.backends.map((b) => b.weight);
}

test('apply, delete, diff and rollback are recorded and restore the config exactly', async (t) => {
  const cp = await startTestControlPlane(t);
  await applyAs(cp.url, 'ana@laptop', 'split.yaml', route(100, 0));
  await applyAs(cp.url, 'ana@laptop', 'split.yaml', route(100, 0)); // unchanged: not recorded
  await applyAs(cp.url, 'bo@ci', 'canary.yaml', route(90, 10) + '---\n' + svc);
  const del = await httpRequest(`${cp.url}/api/v1/resources/Service/default/extra`, {
    method: 'DELETE',
    headers: { 'x-trellis-author': 'bo@ci' },
  });
  assert.equal(del.status, 200, del.text);

  const { items } = (await api<{ items: Summary[] }>(cp.url, 'GET', '/api/v1/history')).body;
  assert.deepEqual(
    items.map((e) => [e.author, e.action, e.source, e.changes.map((c) => c.change)]),
    [
      ['ana@laptop', 'apply', 'split.yaml', ['created']],
      ['bo@ci', 'apply', 'canary.yaml', ['configured', 'created']],
      ['bo@ci', 'delete', 'Service default/extra', ['deleted']],
    ],
  );
  const [first, second] = items;
  assert.ok(first && second && first.revision < second.revision);

  // One revision: from it to now. The weight change is a -/+ pair in the YAML diff.
  const { diffs } = (
    await api<{ diffs: ResourceDiff[] }>(cp.url, 'GET', `/api/v1/diff?from=${first.revision}`)
  ).body;
  const patch = diffs.find((d) => d.key.endsWith('TrafficRoute/default/reviews-split'))?.patch ?? '';
  assert.match(patch, /^-\s+weight: 100$/m);
  assert.match(patch, /^\+\s+weight: 90$/m);
  // Two revisions: the Service existed at the second and is gone now.
  const between = (
    await api<{ diffs: ResourceDiff[] }>(
      cp.url,
      'GET',
      `/api/v1/diff?from=${first.revision}&to=${second.revision}`,
    )
  ).body.diffs;
  assert.deepEqual(between.map((d) => d.key).sort(), [
    'resources/Service/default/extra',
    'resources/TrafficRoute/default/reviews-split',
  ]);

  assert.deepEqual(await weights(cp.url), [90, 10]);
  const rb = await httpRequest(`${cp.url}/api/v1/rollback?to=${first.revision}`, {
    method: 'POST',
    headers: { 'x-trellis-author': 'ana@laptop' },
  });
  assert.equal(rb.status, 200, rb.text);
  const entry = (JSON.parse(rb.text) as { entry: HistoryEntry }).entry;
  assert.equal(entry.action, 'rollback');
  assert.equal(entry.source, `revision ${first.revision}`);
  assert.deepEqual(await weights(cp.url), [100, 0]);
  // The view (what proxies are sent) has it too, at once.
  const inView = cp.view.get('resources/TrafficRoute/default/reviews-split');
  assert.equal(inView?.kind === 'TrafficRoute' ? inView.spec.routes[0]?.backends[0]?.weight : -1, 100);

  // Rolling back to where we are changes nothing and records nothing.
  const again = await httpRequest(`${cp.url}/api/v1/rollback?to=${entry.revision}`, { method: 'POST' });
  assert.equal((JSON.parse(again.text) as { entry: unknown }).entry, null);
  // And the rollback itself can be undone: back to the canary.
  await httpRequest(`${cp.url}/api/v1/rollback?to=${second.revision}`, { method: 'POST' });
  assert.deepEqual(await weights(cp.url), [90, 10]);
});

test('unknown revisions and bad parameters are refused with stable codes', async (t) => {
  const cp = await startTestControlPlane(t);
  await applyAs(cp.url, 'ana@laptop', 'split.yaml', route(100, 0));
  const missing = await api<{ error: { code: string } }>(cp.url, 'POST', '/api/v1/rollback?to=99999');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'TRELLIS_NOT_FOUND');
  const bad = await api<{ error: { code: string } }>(cp.url, 'GET', '/api/v1/diff?from=abc');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'TRELLIS_BAD_REQUEST');
  // Refused calls record nothing.
  const { items } = (await api<{ items: Summary[] }>(cp.url, 'GET', '/api/v1/history')).body;
  assert.equal(items.length, 1);
});
