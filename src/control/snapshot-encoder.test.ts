// The encoder writes exactly the JSON of the snapshot message, fingerprints content (not object
// identity or version), and shares the big outbound bytes between the proxies of one compile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyConfig } from '../model/schema.ts';
import type { WorkloadResource } from '../resources/kinds.ts';
import { createSnapshotCompiler } from './snapshot/index.ts';
import { meshState, trafficRoute, workload } from './snapshot/testing.ts';
import { encodeSnapshot } from './snapshot-encoder.ts';

function mesh(services: number): WorkloadResource[] {
  return Array.from({ length: services * 2 }, (_, i) =>
    workload(`svc${i % services}-${i}`, `svc${i % services}`, {
      namespace: `ns${i % 3}`,
      address: `10.${i >> 8}.${i & 255}.1`,
    }),
  );
}

/** What the stream carried before the encoder: one JSON text, version first in the config. */
function expected(version: string, config: ProxyConfig): string {
  const { version: _, ...rest } = config;
  return JSON.stringify({ type: 'snapshot', version, config: { version, ...rest } });
}

test('segments join into exactly the JSON of the snapshot message, small and large meshes', () => {
  for (const services of [2, 300]) {
    const workloads = mesh(services);
    const compiler = createSnapshotCompiler(meshState({ workloads }));
    for (const w of workloads.slice(0, 7)) {
      const config = compiler.compile({ workload: w }, { version: '42' });
      const encoded = encodeSnapshot('42', config);
      assert.equal(Buffer.concat(encoded.segments()).toString('utf8'), expected('42', config));
      assert.equal(encoded.message(), expected('42', config));
    }
  }
});

test('the fingerprint follows content: same across compiles and versions, new when a route changes', () => {
  const workloads = mesh(100);
  const target = { workload: workloads[5]! };
  const first = encodeSnapshot('1', createSnapshotCompiler(meshState({ workloads })).compile(target));
  const again = encodeSnapshot('2', createSnapshotCompiler(meshState({ workloads })).compile(target));
  assert.equal(again.fingerprint, first.fingerprint);
  const routes = [
    trafficRoute('svc3', { service: 'svc3', routes: [{ backends: [{ service: 'svc4' }] }] }, 'ns0'),
  ];
  const changed = encodeSnapshot(
    '3',
    createSnapshotCompiler(meshState({ workloads, routes })).compile(target),
  );
  assert.notEqual(changed.fingerprint, first.fingerprint);
  // Another proxy of the same namespace has other local parts: another fingerprint.
  const other = encodeSnapshot(
    '1',
    createSnapshotCompiler(meshState({ workloads })).compile({ workload: workloads[8]! }),
  );
  assert.notEqual(other.fingerprint, first.fingerprint);
});

test('proxies of one compile send the same big buffers, not copies', () => {
  const workloads = mesh(300);
  const compiler = createSnapshotCompiler(meshState({ workloads }));
  const sameNamespace = workloads.filter((w) => w.metadata.namespace === 'ns1').slice(0, 3);
  const segs = sameNamespace.map((w) => encodeSnapshot('7', compiler.compile({ workload: w })).segments());
  const big = (s: Buffer[]): Buffer[] => s.filter((b) => b.length >= 16 * 1024);
  // The first proxy encodes the shared parts; the next ones reuse them.
  const [, b, c] = segs.map(big);
  assert.ok(b !== undefined && c !== undefined);
  assert.ok(b.length >= 2, 'virtual hosts and clusters are big segments');
  assert.equal(c.length, b.length);
  // Same memory (a view of one buffer), whatever the Buffer object.
  const sameBytes = (x: Buffer, y: Buffer): boolean => x.buffer === y.buffer && x.byteOffset === y.byteOffset;
  for (const [i, seg] of b.entries()) assert.ok(sameBytes(seg, c[i]!), `segment ${i} is shared`);
});
