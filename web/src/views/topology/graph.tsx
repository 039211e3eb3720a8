// The topology as SVG: services as boxes, calls as arrows, both coloured by health and labelled in
// words. Each service is a link (keyboard: Tab, Enter) to its page.
import { bytes, healthOf, ms, percent, rps } from '../../format.ts';
import { href } from '../../router.ts';
import type { EdgeItem, Golden, StatItem } from '../../types.ts';
import type { Layout, PlacedEdge, PlacedNode } from './layout.ts';

/** Edge labels stay readable up to this many edges; past it the numbers are in each edge's tooltip. */
const MAX_LABELLED_EDGES = 40;

export function TopologyGraph(props: {
  layout: Layout;
  stats: Map<string, StatItem>;
  edges: Map<string, EdgeItem>;
}) {
  const { layout } = props;
  const labelled = layout.edges.length <= MAX_LABELLED_EDGES;
  const backendOf = new Map(
    layout.edges.filter((e) => e.kind === 'split').map((e) => [e.target, e.source.split('/')[1] ?? e.source]),
  );
  return (
    <svg
      class="topology"
      viewBox={`0 0 ${Math.max(layout.width, 200)} ${Math.max(layout.height, 100)}`}
      width={Math.max(layout.width, 200)}
      role="group"
      aria-label={`Service topology: ${layout.nodes.length} services, ${layout.edges.length} edges`}
    >
      <defs>
        {(['good', 'warn', 'bad', 'idle', 'split'] as const).map((h) => (
          <marker
            id={`arrow-${h}`}
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" class={`edge-head-${h}`} />
          </marker>
        ))}
      </defs>
      {layout.edges.map((e) => (
        <Edge key={e.id} edge={e} item={props.edges.get(e.id)} labelled={labelled} />
      ))}
      {layout.nodes.map((n) => (
        <Node key={n.id} node={n} item={props.stats.get(n.id)} backendOf={backendOf.get(n.id)} />
      ))}
    </svg>
  );
}

function edgeSummary(item: EdgeItem | undefined): string {
  if (item === undefined) return 'no traffic in the last minute';
  const s = item.stats;
  return `${rps(s.rps)} rps · ${percent(s.successRate)} · p99 ${ms(s.latencyMs.p99)}`;
}

function SplitEdge(props: { edge: PlacedEdge; labelled: boolean }) {
  const { edge } = props;
  return (
    <g class="edge edge-split" data-testid={`split-${edge.source}-${edge.target}`}>
      <title>{`${edge.source}'s route sends ${edge.label?.replace('split ', '') ?? ''} of its requests to ${edge.target}`}</title>
      <path d={pathOf(edge)} marker-end="url(#arrow-split)" />
      {props.labelled && (
        <text x={edge.labelAt.x} y={edge.labelAt.y - 6} text-anchor="middle" class="edge-label">
          {edge.label}
        </text>
      )}
    </g>
  );
}

function pathOf(edge: PlacedEdge): string {
  return edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

function Edge(props: { edge: PlacedEdge; item: EdgeItem | undefined; labelled: boolean }) {
  const { edge, item } = props;
  if (edge.kind === 'split') return <SplitEdge edge={edge} labelled={props.labelled} />;
  const health = healthOf(item?.stats);
  const d = pathOf(edge);
  const secured = item?.secured === true;
  const text = edgeSummary(item);
  const tcp = item?.stats.tcp !== null && item?.stats.tcp !== undefined && item.stats.successRate === null;
  return (
    <g
      class={`edge edge-${health}`}
      data-testid={`edge-${edge.source}-${edge.target}`}
      data-rps={item?.stats.rps ?? 0}
      data-mtls={secured ? 'true' : 'false'}
    >
      <title>{`${edge.source} → ${edge.target}: ${tcp ? 'TCP' : text}; ${secured ? 'mutual TLS' : 'not all mTLS'}`}</title>
      <path d={d} class={secured ? '' : 'edge-plain'} marker-end={`url(#arrow-${health})`} />
      {props.labelled && (
        <text x={edge.labelAt.x} y={edge.labelAt.y - 6} text-anchor="middle" class="edge-label">
          {secured ? 'mTLS · ' : 'plaintext · '}
          {tcp && item?.stats.tcp ? `TCP ${item.stats.tcp.openConnections} open` : text}
        </text>
      )}
    </g>
  );
}

/** The second line of a service's box: HTTP golden metrics, TCP, or whose backend it is. */
function nodeSummary(g: Golden | null, backendOf: string | undefined): string {
  if (g !== null && g.successRate !== null)
    return `${percent(g.successRate)} · ${rps(g.rps)} rps · p99 ${ms(g.latencyMs.p99)}`;
  if (g?.tcp != null)
    return `TCP · ${g.tcp.openConnections} open · ${bytes(Math.round(g.tcp.readBytesPerSec + g.tcp.writeBytesPerSec))}/s`;
  // A split's backend: its requests are counted as the split service's.
  if (backendOf !== undefined) return `backend of ${backendOf}`;
  return 'no traffic';
}

function Node(props: { node: PlacedNode; item: StatItem | undefined; backendOf: string | undefined }) {
  const { node, item } = props;
  const g = item?.stats ?? null;
  const health = node.meshed ? healthOf(g) : 'idle';
  const line2 = nodeSummary(g, props.backendOf);
  const label = `${node.name} in ${node.namespace}: ${line2}`;
  const box = (
    <>
      <rect
        width={node.width}
        height={node.height}
        rx="8"
        class={`node node-${health}${node.meshed ? '' : ' node-unmeshed'}`}
      />
      <text x="12" y="22" class="node-name">
        {node.name}
        <tspan class="node-ns"> {node.namespace}</tspan>
      </text>
      <text x="12" y="43" class="node-stats">
        {node.meshed ? line2 : 'unmeshed caller'}
      </text>
    </>
  );
  return (
    <g transform={`translate(${node.x},${node.y})`} data-testid={`node-${node.namespace}-${node.name}`}>
      {node.meshed ? (
        <a href={href(['services', node.namespace, node.name])} aria-label={label}>
          <title>{label}</title>
          {box}
        </a>
      ) : (
        <g aria-label={label}>{box}</g>
      )}
    </g>
  );
}
