// The mesh at a glance: every service and every call between them over the last minute, laid out
// automatically and updated live; below, the same numbers as a table (keyboard and screen readers).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { GOLDEN_HEADERS, GoldenCells, HealthBadge, MtlsBadge } from '../components/golden.tsx';
import { useMesh } from '../mesh.tsx';
import { href } from '../router.ts';
import type { EdgeItem, MeshEvent, StatItem } from '../types.ts';
import { useSplits, type Split } from './canary/use-splits.ts';
import { TopologyGraph } from './topology/graph.tsx';
import { layoutGraph, structureKey, type GraphEdge, type GraphNode, type Layout } from './topology/layout.ts';

const idOf = (r: { namespace: string; name: string }): string => `${r.namespace}/${r.name}`;

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

export function TopologyView() {
  const { event } = useMesh();
  const { splits } = useSplits(15_000);
  const graph = useMemo(() => (event === undefined ? undefined : graphOf(event, splits)), [event, splits]);
  const key = graph === undefined ? '' : structureKey(graph.nodes, graph.edges);
  const [layout, setLayout] = useState<Layout | undefined>(undefined);
  const [layoutError, setLayoutError] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (graph === undefined) return;
    let current = true;
    layoutGraph(graph.nodes, graph.edges).then(
      (l) => current && setLayout(l),
      (err: unknown) => current && setLayoutError(String(err)),
    );
    return () => {
      current = false;
    };
    // Laid out again only when the structure changes (key), not on every live update.
  }, [key]);

  const stats = useMemo(() => new Map((event?.services ?? []).map((s) => [idOf(s), s])), [event]);
  const edges = useMemo(
    () => new Map((event?.edges ?? []).map((e) => [`${idOf(e.src)}->${idOf(e.dst)}`, e])),
    [event],
  );
  return (
    <section>
      <h1>Topology</h1>
      <p class="muted">
        Services and the calls between them over the last {event?.window ?? 'minute'}, as their sidecars
        measured them. Arrows point from caller to callee. “mTLS” marks an edge where every request went over
        mutual TLS; a dashed arrow is one where some did not. Dotted purple arrows are a route's split: the
        share of a service's requests it sends to each backend service.
      </p>
      <div class="panel topology-panel" data-testid="topology">
        {event === undefined ? (
          <p>Waiting for live data…</p>
        ) : graph?.nodes.length === 0 ? (
          <p>
            No services yet. Start workloads with <code>trellis run</code> or apply Services.
          </p>
        ) : layoutError !== undefined ? (
          <p class="error">The layout failed: {layoutError}</p>
        ) : layout === undefined ? (
          <p>Laying out {graph?.nodes.length} services…</p>
        ) : (
          <TopologyGraph layout={layout} stats={stats} edges={edges} />
        )}
      </div>
      <ServicesTable services={event?.services ?? []} />
      <EdgesTable edges={event?.edges ?? []} />
    </section>
  );
}

function ServicesTable(props: { services: StatItem[] }) {
  return (
    <section class="panel">
      <h2>Services</h2>
      <table data-testid="services-table">
        <thead>
          <tr>
            <th>Service</th>
            <th>Namespace</th>
            <th>Health</th>
            <th class="num">Meshed</th>
            {GOLDEN_HEADERS.map((h) => (
              <th class="num">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.services.map((s) => (
            <tr key={idOf(s)}>
              <td>
                <a href={href(['services', s.namespace, s.name])}>{s.name}</a>
              </td>
              <td>{s.namespace}</td>
              <td>
                <HealthBadge golden={s.stats} />
              </td>
              <td class="num">{s.meshed === null ? '-' : `${s.meshed.connected}/${s.meshed.total}`}</td>
              <GoldenCells golden={s.stats} />
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function EdgesTable(props: { edges: EdgeItem[] }) {
  return (
    <details class="panel">
      <summary>
        <h2 class="inline">Edges ({props.edges.length})</h2>
      </summary>
      <table data-testid="edges-table">
        <thead>
          <tr>
            <th>From</th>
            <th>To</th>
            <th>mTLS</th>
            <th>Client identity</th>
            {GOLDEN_HEADERS.map((h) => (
              <th class="num">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.edges.map((e) => (
            <tr key={`${idOf(e.src)}->${idOf(e.dst)}`}>
              <td>{idOf(e.src)}</td>
              <td>
                <a href={href(['services', e.dst.namespace, e.dst.name])}>{idOf(e.dst)}</a>
              </td>
              <td>
                <MtlsBadge secured={e.secured} />
              </td>
              <td class="mono">{e.clientIds.join(', ') || '-'}</td>
              <GoldenCells golden={e.stats} />
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
