// The mesh at a glance: every service and every call between them over the last minute, laid out
// automatically and updated live; below, the same numbers as a table (keyboard and screen readers).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { GOLDEN_HEADERS, GoldenCells, HealthBadge, MtlsBadge } from '../components/golden.tsx';
import { useMesh } from '../mesh.tsx';
import { href } from '../router.ts';
import type { EdgeItem, StatItem } from '../types.ts';
import { useSplits } from './canary/use-splits.ts';
import { TopologyGraph } from './topology/graph.tsx';
import { focusOn, graphOf, idOf } from './topology/model.ts';
import { layoutGraph, structureKey, type Layout } from './topology/layout.ts';

export function TopologyView() {
  const { event } = useMesh();
  const { splits } = useSplits(15_000);
  const [namespace, setNamespace] = useState('');
  const namespaces = useMemo(
    () => [...new Set((event?.services ?? []).map((s) => s.namespace))].sort(),
    [event],
  );
  const graph = useMemo(
    () => (event === undefined ? undefined : focusOn(graphOf(event, splits), namespace)),
    [event, splits, namespace],
  );
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
      <div class="toolbar">
        <div>
          <label for="topology-namespace">Namespace</label>
          <select
            id="topology-namespace"
            value={namespace}
            onChange={(e) => setNamespace(e.currentTarget.value)}
          >
            <option value="">all namespaces</option>
            {namespaces.map((ns) => (
              <option value={ns}>{ns}</option>
            ))}
          </select>
        </div>
      </div>
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
      <ServicesTable
        services={(event?.services ?? []).filter((s) => namespace === '' || s.namespace === namespace)}
      />
      <EdgesTable
        edges={(event?.edges ?? []).filter(
          (e) => namespace === '' || e.src.namespace === namespace || e.dst.namespace === namespace,
        )}
      />
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
