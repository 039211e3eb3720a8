// Two control-plane replicas on one real etcd serve the same state. A sidecar given both URLs
// streams from the first; when that replica is SIGKILLed it fails over to the second, its workload
// stays registered, and an apply on the survivor reaches it.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DEFAULT_REGISTRY } from '../../src/control/control-plane.ts';
import { startEtcd } from '../support/etcd.ts';
import { listProxies, MeshClient, waitReady, waitVersions } from './client.ts';
import { run, Scope, trellisOk, up, waitUntil } from './harness.ts';

// The canary moved all the way: every request to v2.
const ALL_TO_V2 = `apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: reviews-canary, namespace: default }
spec:
  service: reviews
  routes:
    - name: canary
      backends: [{ service: reviews-v1, weight: 0 }, { service: reviews-v2, weight: 100 }]
`;

const LEASE_TTL_MS = DEFAULT_REGISTRY.leaseTtlSeconds * 1000;

const Named = z.object({ metadata: z.object({ name: z.string() }), spec: z.unknown() });

test(
  'two control planes on one etcd: shared state, and a sidecar fails over from A to B',
  { timeout: 90_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const etcd = await startEtcd();
    scope.defer(() => etcd.stop());
    const [a, b] = await Promise.all([
      up(scope, { dir: 'a', etcd: etcd.endpoint }),
      up(scope, { dir: 'b', etcd: etcd.endpoint }),
    ]);
    const both = `${a.url},${b.url}`;

    // Written through A, read through B.
    await trellisOk(['apply', '--control', a.url, '-f', 'examples/demo/canary.yaml']);
    const onB = Named.parse(
      JSON.parse(
        await trellisOk(['get', 'trafficroute', 'reviews-canary', '-o', 'json', '--control', b.url]),
      ),
    );
    assert.equal(onB.metadata.name, 'reviews-canary');

    const reviews = (version: string) =>
      run(scope, both, {
        service: 'reviews',
        version,
        servicePort: 9080,
        app: ['node', 'examples/demo/reviews.ts'],
      });
    const [v1, v2, web] = await Promise.all([
      reviews('v1'),
      reviews('v2'),
      run(scope, both, { service: 'web' }),
    ]);
    const names = [v1.name, v2.name, web.name];
    // Every sidecar tries the first URL first: all stream from A, and B sees their workloads.
    await waitReady(b.url, names);
    assert.deepEqual(await listProxies(b.url), []);
    const client = new MeshClient(web.ports.outbound);
    t.after(() => client.close());
    await waitVersions(client, 'http://reviews/', ['v1', 'v2']);

    a.proc.signal('SIGKILL');
    await a.proc.exited;
    const killedAt = Date.now();
    await waitUntil('every proxy streaming from B', async () => {
      const proxies = await listProxies(b.url);
      return names.every((n) => proxies.some((p) => p.workload === n && p.acked !== undefined))
        ? true
        : undefined;
    });
    const workloads = await trellisOk(['get', 'workloads', '--control', b.url]);
    for (const n of names) assert.match(workloads, new RegExp(`^${n}\\s+(reviews|web)\\s+v[12]`, 'm'));
    // The client kept serving through the failover.
    assert.equal((await client.json('http://reviews/')).service, 'reviews');

    const file = path.join(scope.dir, 'all-to-v2.yaml');
    await writeFile(file, ALL_TO_V2);
    assert.match(
      await trellisOk(['apply', '--control', b.url, '-f', file]),
      /^trafficroute\/reviews-canary configured$/m,
    );
    await sleep(1000);
    const split = await client.versions('http://reviews/', 50);
    assert.deepEqual([...split], [['v2', 50]]);

    // Registered through A, the workloads hung off A's store lease; re-registering on B moved them to
    // B's. Once A's lease has expired, they must all still be there.
    await sleep(Math.max(0, killedAt + LEASE_TTL_MS + 1000 - Date.now()));
    const later = await trellisOk(['get', 'workloads', '--control', b.url]);
    for (const n of names) assert.match(later, new RegExp(`^${n}\\s`, 'm'));
  },
);
