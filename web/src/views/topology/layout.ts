// Where the topology's nodes and edges go: ELK's layered algorithm (callers left, callees right),
// computed only when the set of services or edges changes, so live numbers never move the picture.
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';

export interface GraphNode {
  id: string;
  namespace: string;
  name: string;
  /** False: a caller no sidecar names (an unmeshed client). */
  meshed: boolean;
}
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** call: measured traffic; split: a route's configured share from a service to a backend service. */
  kind: 'call' | 'split';
  /** For a split: "90%". */
  label?: string;
}
export interface PlacedNode extends GraphNode {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface PlacedEdge extends GraphEdge {
  /** The polyline ELK routed, start to end. */
  points: { x: number; y: number }[];
  /** Where the label sits: the middle of the route. */
  labelAt: { x: number; y: number };
}
export interface Layout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

export const NODE_HEIGHT = 58;
const CHAR_WIDTH = 8.2;

export function nodeWidth(n: GraphNode): number {
  return Math.max(220, Math.round(Math.max(n.name.length + 2, n.namespace.length + 6) * CHAR_WIDTH) + 24);
}

/** A key that changes only when the graph's structure does. */
export function structureKey(nodes: GraphNode[], edges: GraphEdge[]): string {
  return `${nodes.map((n) => n.id).join(',')}|${edges.map((e) => e.id).join(',')}`;
}

type Elk = { layout(graph: ElkNode): Promise<ElkNode> };
let elk: Promise<Elk> | undefined;

/** elkjs is large: it is loaded with the first layout, in its own chunk. */
function loadElk(): Promise<Elk> {
  elk ??= import('elkjs/lib/elk.bundled.js').then((m) => new m.default());
  return elk;
}

export async function layoutGraph(nodes: GraphNode[], edges: GraphEdge[]): Promise<Layout> {
  const graph: ElkNode = {
    id: 'mesh',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.edgeRouting': 'POLYLINE',
      'elk.layered.spacing.nodeNodeBetweenLayers': '230',
      'elk.spacing.nodeNode': '44',
      'elk.spacing.componentComponent': '48',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
    },
    children: nodes.map((n) => ({ id: n.id, width: nodeWidth(n), height: NODE_HEIGHT })),
    edges: edges.map((e): ElkExtendedEdge => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  };
  const out = await (await loadElk()).layout(graph);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const placed: PlacedNode[] = (out.children ?? []).flatMap((c) => {
    const n = byId.get(c.id);
    return n === undefined
      ? []
      : [{ ...n, x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? nodeWidth(n), height: c.height ?? NODE_HEIGHT }];
  });
  const edgeById = new Map(edges.map((e) => [e.id, e]));
  const routed: PlacedEdge[] = (out.edges ?? []).flatMap((e) => {
    const base = edgeById.get(e.id);
    const section = e.sections?.[0];
    if (base === undefined || section === undefined) return [];
    const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
    return [{ ...base, points, labelAt: midpoint(points) }];
  });
  return { width: out.width ?? 0, height: out.height ?? 0, nodes: placed, edges: routed };
}

/** The point halfway along a polyline. */
function midpoint(points: { x: number; y: number }[]): { x: number; y: number } {
  const lengths = points.slice(1).map((p, i) => Math.hypot(p.x - points[i]!.x, p.y - points[i]!.y));
  let half = lengths.reduce((a, b) => a + b, 0) / 2;
  for (let i = 0; i < lengths.length; i++) {
    const len = lengths[i]!;
    if (half <= len && len > 0) {
      const a = points[i]!;
      const b = points[i + 1]!;
      return { x: a.x + ((b.x - a.x) * half) / len, y: a.y + ((b.y - a.y) * half) / len };
    }
    half -= len;
  }
  return points[0] ?? { x: 0, y: 0 };
}
