// A mesh at the size the control plane is built for: 1,000 services × 2 workloads, compiled for
// 100 proxies. Asserts what the snapshots hold and that proxies of one namespace share the outbound
// part (built once), never how long it takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkloadResource } from '../../resources/kinds.ts';
import { createSnapshotCompiler } from './compiler.ts';
import { asProxyWouldLoad, meshState, workload } from './testing.ts';

const SERVICES = 1000;
const NAMESPACES = 10;

function bigMesh(): WorkloadResource[] {
  const out: WorkloadResource[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const namespace = `ns${i % NAMESPACES}`;
    for (const r of [1, 2]) {
      out.push(
        workload(`svc${i}-${r}`, `svc${i}`, {
          namespace,
          version: `v${r}`,
          address: `10.${r}.${Math.floor(i / 250)}.${i % 250}`,
        }),
      );
    }
  }
  return out;
}

test('1,000 services × 2 workloads compile for 100 proxies, sharing the per-namespace outbound part', () => {
  const workloads = bigMesh();
  const compiler = createSnapshotCompiler(meshState({ workloads }));
  const targets = Array.from({ length: 100 }, (_, i) => workloads[i * 7]!);
  const configs = targets.map((w) => compiler.compile({ workload: w }));

  for (const [i, cfg] of configs.entries()) {
    const w = targets[i]!;
    assert.equal(cfg.node.id, w.metadata.name);
    const outbound = cfg.routeTables[0]!;
    assert.equal(outbound.virtualHosts.length, SERVICES);
    assert.equal(cfg.clusters.length, SERVICES + 1);
    // Short names only for the services of the proxy's own namespace.
    const short = outbound.virtualHosts.filter((v) => !v.domains[0]!.includes('.'));
    assert.equal(short.length, SERVICES / NAMESPACES);
    assert.ok(short.every((v) => v.name.endsWith(`.${w.metadata.namespace}`)));
  }

  // A sample, in full: svc123 lives in ns3 with its two sidecars.
  const sample = configs[5]!;
  assert.deepEqual(asProxyWouldLoad(sample), sample);
  const c = sample.clusters.find((x) => x.name === 'outbound:svc123.ns3');
  assert.deepEqual(
    c?.endpoints.map((e) => [e.address, e.port, e.labels['version']]),
    [
      ['10.1.0.123', 15006, 'v1'],
      ['10.2.0.123', 15006, 'v2'],
    ],
  );

  // Same namespace: the same outbound objects; another namespace: same clusters, its own hosts.
  const byNs = (ns: string): number[] => targets.flatMap((w, i) => (w.metadata.namespace === ns ? [i] : []));
  const [a, b] = byNs('ns0').map((i) => configs[i]!);
  assert.ok(a && b);
  assert.equal(a.routeTables[0]!.virtualHosts, b.routeTables[0]!.virtualHosts);
  assert.equal(a.clusters[1], b.clusters[1]);
  const other = configs[byNs('ns1')[0]!]!;
  assert.notEqual(other.routeTables[0]!.virtualHosts, a.routeTables[0]!.virtualHosts);
  assert.equal(other.clusters[1], a.clusters[1]);
});
