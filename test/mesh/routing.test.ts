// Universal mode end to end: two versions of reviews and a client workload, each under
// `trellis run`; Kubernetes-style names through the HTTP proxy; the demo's canary applied with the
// CLI and enforced by the client's sidecar; get / describe / proxy-status read it back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { listProxies, MeshClient, waitReady, waitVersions } from './client.ts';
import { run, Scope, trellisOk, up, waitUntil } from './harness.ts';

const WorkloadList = z.object({
  kind: z.literal('List'),
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()) }),
      spec: z.object({
        service: z.string(),
        ports: z.object({ outbound: z.number(), app: z.number(), service: z.number().optional() }),
      }),
    }),
  ),
});

test(
  'reviews v1/v2 behind a client sidecar: names, env, canary, get/describe/proxy-status',
  { timeout: 90_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cp = await up(scope, { dir: 'cp' });
    const reviews = (version: string) =>
      run(scope, cp.url, {
        service: 'reviews',
        version,
        servicePort: 9080,
        app: ['node', 'examples/demo/reviews.ts'],
      });
    const [v1, v2, web] = await Promise.all([
      reviews('v1'),
      reviews('v2'),
      run(scope, cp.url, { service: 'web' }),
    ]);
    await waitReady(cp.url, [v1.name, v2.name, web.name]);

    // The client's outbound port, as a user would learn it.
    const listed = WorkloadList.parse(
      JSON.parse(await trellisOk(['get', 'workloads', '--control', cp.url, '-o', 'json'])),
    );
    assert.deepEqual(listed.items.map((w) => w.metadata.name).sort(), [v1.name, v2.name, web.name].sort());
    const webItem = listed.items.find((w) => w.metadata.name === web.name);
    assert.ok(webItem);
    assert.equal(webItem.spec.ports.outbound, web.ports.outbound);
    assert.deepEqual(
      listed.items.filter((w) => w.spec.service === 'reviews').map((w) => w.metadata.labels.version),
      ['v1', 'v2'],
    );

    const client = new MeshClient(webItem.spec.ports.outbound);
    t.after(() => client.close());
    await waitVersions(client, 'http://reviews/', ['v1', 'v2']);
    for (const url of [
      'http://reviews/',
      'http://reviews:9080/',
      'http://reviews.default:9080/',
      'http://reviews.default.svc.cluster.local:9080/',
    ]) {
      const body = await client.json(url);
      assert.equal(body.service, 'reviews', url);
      assert.match(String(body.version), /^v[12]$/, url);
    }

    // The app was started with PORT and HTTP_PROXY pointing at its own sidecar.
    const { env } = z
      .object({ env: z.record(z.string(), z.string().nullable()) })
      .parse(await client.json('http://web/env'));
    const proxyUrl = `http://127.0.0.1:${webItem.spec.ports.outbound}`;
    assert.equal(env.PORT, String(webItem.spec.ports.app));
    assert.equal(env.HTTP_PROXY, proxyUrl);
    assert.equal(env.http_proxy, proxyUrl);
    assert.equal(env.TRELLIS_WORKLOAD, web.name);

    const applied = await trellisOk(['apply', '--control', cp.url, '-f', 'examples/demo/canary.yaml']);
    assert.match(applied, /trafficroute\/reviews-canary created/);
    // No polling: one second after `apply` returns, the split must already be in force.
    await sleep(1000);
    const split = await client.versions('http://reviews/', 1000);
    const v2Share = (split.get('v2') ?? 0) / 1000;
    assert.equal((split.get('v1') ?? 0) + (split.get('v2') ?? 0), 1000);
    assert.ok(Math.abs(v2Share - 0.1) <= 0.03, `v2 got ${(v2Share * 100).toFixed(1)} % (want 10 ± 3)`);
    const jason = await client.versions('http://reviews/', 100, { 'end-user': 'jason' });
    assert.deepEqual([...jason], [['v2', 100]]);

    // get trafficroute in every output format.
    const args = ['get', 'trafficroute', '--control', cp.url];
    const asJson: unknown = JSON.parse(await trellisOk([...args, 'reviews-canary', '-o', 'json']));
    assert.deepEqual(z.object({ kind: z.string(), metadata: z.object({ name: z.string() }) }).parse(asJson), {
      kind: 'TrafficRoute',
      metadata: { name: 'reviews-canary' },
    });
    // A listing is a List even with one item; its item is the same object.
    const asYaml: unknown = parseYaml(await trellisOk([...args, '-o', 'yaml']));
    assert.deepEqual(asYaml, { kind: 'List', items: [asJson] });
    const wide = await trellisOk([...args, '-o', 'wide']);
    assert.match(wide, /^NAME\s+SERVICE\s+ROUTES\s+BACKENDS$/m);
    assert.match(
      wide,
      /^reviews-canary\s+reviews\s+jason-to-v2,canary\s+reviews-v2:1 reviews-v1:90\+reviews-v2:10$/m,
    );

    const described = await trellisOk(['describe', 'service', 'reviews', '--control', cp.url]);
    for (const w of [v1, v2])
      assert.match(
        described,
        new RegExp(`^\\s+${w.name}\\s+v[12]\\s+127\\.0\\.0\\.1:${w.ports.inbound}\\s+true`, 'm'),
      );
    assert.match(described, /^Route:\s+TrafficRoute default\/reviews-canary$/m);
    assert.match(described, /canary → reviews-v1 \(90\), reviews-v2 \(10\)/);

    // proxy-status: every proxy has acknowledged what it was sent.
    const names = [v1.name, v2.name, web.name];
    await waitUntil('every proxy synced', async () => {
      const proxies = await listProxies(cp.url);
      const synced = names.every((n) =>
        proxies.some((p) => p.workload === n && p.acked !== undefined && p.acked === p.sent),
      );
      return synced ? true : undefined;
    });
    const status = await trellisOk(['proxy-status', '--control', cp.url]);
    assert.match(status, /^NAME\s+NAMESPACE\s+SENT\s+ACKED\s+STATUS$/m);
    for (const n of names)
      assert.match(status, new RegExp(`^${n}\\s+default\\s+\\d+\\s+\\d+\\s+SYNCED$`, 'm'));
  },
);
