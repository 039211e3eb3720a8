import assert from 'node:assert/strict';
import { test } from 'node:test';
import { focusOn } from './model.ts';
import type { GraphEdge, GraphNode } from './layout.ts';

const node = (namespace: string, name: string): GraphNode => ({
  id: `${namespace}/${name}`,
  namespace,
  name,
  meshed: true,
});
const edge = (source: string, target: string): GraphEdge => ({
  id: `${source}->${target}`,
  source,
  target,
  kind: 'call',
});

test('a namespace keeps its services and their callers and callees elsewhere, nothing else', () => {
  const graph = {
    nodes: [
      node('shop', 'web'),
      node('shop', 'cart'),
      node('pay', 'api'),
      node('ops', 'cron'),
      node('ops', 'db'),
    ],
    edges: [edge('shop/web', 'shop/cart'), edge('shop/cart', 'pay/api'), edge('ops/cron', 'ops/db')],
  };
  const shop = focusOn(graph, 'shop');
  assert.deepEqual(
    shop.nodes.map((n) => n.id),
    ['shop/web', 'shop/cart', 'pay/api'],
  );
  assert.deepEqual(
    shop.edges.map((e) => e.id),
    ['shop/web->shop/cart', 'shop/cart->pay/api'],
  );
  assert.equal(focusOn(graph, ''), graph);
});
