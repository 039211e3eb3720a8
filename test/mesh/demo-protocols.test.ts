// The demo's three protocols through the mesh: web.ts (an unmodified app under `trellis run`) calls
// reviews over HTTP (HTTP_PROXY), ratings over gRPC (grpc_proxy: CONNECT, then h2c) and stock over
// raw TCP (CONNECT stock:7000); a client sidecar asks web for a page that needs all three.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { MeshClient, waitReady } from './client.ts';
import { run, Scope, up, waitUntil } from './harness.ts';

const Page = z.strictObject({ reviews: z.string(), stars: z.number(), stock: z.string() });

test(
  'web reaches reviews (HTTP), ratings (gRPC) and stock (TCP) through its sidecar',
  { timeout: 90_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cp = await up(scope, { dir: 'cp' });
    const demo = (file: string): string[] => ['node', `examples/demo/${file}`];
    const workloads = await Promise.all([
      run(scope, cp.url, { service: 'reviews', version: 'v2', servicePort: 9080, app: demo('reviews.ts') }),
      run(scope, cp.url, {
        service: 'ratings',
        protocol: 'grpc',
        servicePort: 50051,
        app: demo('ratings.ts'),
      }),
      run(scope, cp.url, { service: 'stock', protocol: 'tcp', servicePort: 7000, app: demo('stock.ts') }),
      run(scope, cp.url, { service: 'web', servicePort: 80, app: demo('web.ts') }),
      run(scope, cp.url, { service: 'client' }),
    ]);
    await waitReady(
      cp.url,
      workloads.map((w) => w.name),
    );
    const client = new MeshClient(workloads[4]!.ports.outbound);
    t.after(() => client.close());
    // web's own sidecar may still be taking the snapshot that holds the last service started.
    const page = await waitUntil('a full page from web', async () => {
      const r = await client.get('http://web/');
      return r.status === 200 ? Page.parse(JSON.parse(r.body)) : undefined;
    });
    // stars for "widget": 1 + (sum of char codes % 5); stock answers "<item> <7 × length>".
    const stars = 1 + ([...'widget'].reduce((a, c) => a + c.charCodeAt(0), 0) % 5);
    assert.deepEqual(page, { reviews: 'v2', stars, stock: 'widget 42' });
    // Every later request works the same way (not just a lucky first one).
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(Page.parse(await client.json('http://web.default.svc.cluster.local/')), page);
    }
  },
);
