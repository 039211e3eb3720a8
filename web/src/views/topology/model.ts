// The topology as a graph: which services are boxes and which calls and splits are arrows, from the
// live event and the splits in force; and the part of it one namespace touches.
import type { MeshEvent } from '../../types.ts';
import type { Split } from '../canary/use-splits.ts';
import type { GraphEdge, GraphNode } from './layout.ts';

export const idOf = (r: { namespace: string; name: string }): string => `${r.namespace}/${r.name}`;

/** Services the mesh knows or traffic names, the calls between them, and the splits of routes. */
export function graphOf(event: MeshEvent, splits: Split[] = []): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes = new Map<string, GraphNode>();
  for (const s of event.services)
    nodes.set(idOf(s), { id: idOf(s), namespace: s.namespace, name: s.name, meshed: true });
  for (const e of event.edges)
    for (const r of [e.src, e.dst])
      if (!nodes.has(idOf(r)))
        nodes.set(idOf(r), {
          id: idOf(r),
          namespace: r.namespace,
          name: r.name,
          meshed: r.name !== 'unknown',
        });
  const edges: GraphEdge[] = event.edges
    .filter((e) => idOf(e.src) !== idOf(e.dst))
    .map((e) => ({
      id: `${idOf(e.src)}->${idOf(e.dst)}`,
      source: idOf(e.src),
      target: idOf(e.dst),
      kind: 'call',
    }));
  // A canary's backends (reviews-v1, reviews-v2) carry no calls of their own: callers' requests are
  // the split service's. A dashed arrow from the service to each says where its route sends them.
  for (const split of splits)
    for (const rule of split.rules)
      for (const b of rule.backends) {
        const source = idOf(split);
        const target = idOf(b.ref);
        const id = `${source}=>${target}`;
        if (source === target || !nodes.has(target) || edges.some((e) => e.id === id)) continue;
        edges.push({ id, source, target, kind: 'split', label: `split ${Math.round(b.share * 100)}%` });
      }
  const sorted = [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  return { nodes: sorted, edges: edges.sort((a, b) => a.id.localeCompare(b.id)) };
}

/** The part of the graph that touches `namespace`: its services, and their callers and callees elsewhere. */
export function focusOn(
  graph: { nodes: GraphNode[]; edges: GraphEdge[] },
  namespace: string,
): { nodes: GraphNode[]; edges: GraphEdge[] } {
  if (namespace === '') return graph;
  const nsOf = new Map(graph.nodes.map((n) => [n.id, n.namespace]));
  const edges = graph.edges.filter(
    (e) => nsOf.get(e.source) === namespace || nsOf.get(e.target) === namespace,
  );
  const touched = new Set(edges.flatMap((e) => [e.source, e.target]));
  return { nodes: graph.nodes.filter((n) => n.namespace === namespace || touched.has(n.id)), edges };
}
