import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layoutGraph, NODE_HEIGHT, nodeWidth, type GraphEdge, type GraphNode } from './layout.ts';

/** A mesh of `n` services in tiers: each calls up to three services of the next tier. */
function tieredMesh(n: number): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = Array.from({ length: n }, (_, i) => ({
    id: `shop/svc-${i}`,
    namespace: 'shop',
    name: `svc-${i}`,
    meshed: true,
  }));
  const edges: GraphEdge[] = [];
  for (let i = 0; i < n; i++)
    for (const j of [i * 3 + 1, i * 3 + 2, i * 3 + 3])
      if (j < n)
        edges.push({ id: `e${i}-${j}`, source: `shop/svc-${i}`, target: `shop/svc-${j}`, kind: 'call' });
  return { nodes, edges };
}

test('50 services are laid out without overlaps, callers left of callees', async () => {
  const { nodes, edges } = tieredMesh(50);
  const layout = await layoutGraph(nodes, edges);
  assert.equal(layout.nodes.length, 50);
  assert.equal(layout.edges.length, edges.length);
  for (const [i, a] of layout.nodes.entries())
    for (const b of layout.nodes.slice(i + 1)) {
      const apart =
        a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      assert.ok(apart, `${a.name} overlaps ${b.name}`);
    }
  const at = new Map(layout.nodes.map((n) => [n.id, n]));
  for (const e of edges) assert.ok(at.get(e.source)!.x < at.get(e.target)!.x, `${e.id} points right`);
  for (const e of layout.edges) assert.ok(e.points.length >= 2);
  // Readable on a laptop: the tiers spread out rather than piling into one tall column.
  assert.ok(layout.width > layout.height / 4, `${layout.width}×${layout.height}`);
});

test('node boxes fit their names', () => {
  const short = nodeWidth({ id: 'a/b', namespace: 'a', name: 'b', meshed: true });
  const long = nodeWidth({ id: 'a/x', namespace: 'a', name: 'x'.repeat(60), meshed: true });
  assert.ok(long > short);
  assert.ok(long >= 60 * 7);
  assert.ok(NODE_HEIGHT > 40);
});
