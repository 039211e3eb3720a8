// Golden metrics per edge of the service graph, labelled as Istio's standard metrics are: who
// reports (source: the caller's sidecar, outbound; destination: the callee's, inbound), source and
// destination workload, namespace, version and SPIFFE identity, destination service, route,
// response code, gRPC status, and whether the hop was mutual TLS. Unknown values are `unknown`.
//
// Same design as ProxyStats: plain numbers bumped on the data path, read when /metrics is scraped.
// A request finds its cell by two Map lookups keyed by objects made before it came (the route's
// EdgeRoute, made per config; the peer's EdgeParty, interned per endpoint or per caller) and one
// keyed by a number (status and gRPC code): no label string is built per request. Label values come
// from config, certificates and the peer metadata header, never from paths or hosts, and the number
// of label sets is capped: past the cap, new ones fold into one `unknown` series per reporter and
// each request or connection folded is counted.
//
//   trellis_edge_requests_total{reporter, source_*, destination_*, route, response_code, grpc_status, mtls}
//   trellis_edge_request_duration_ms{…}    histogram, milliseconds (LATENCY_BUCKETS_MS)
//   trellis_edge_request_bytes{…}          histogram of request body sizes (BYTE_BUCKETS)
//   trellis_edge_response_bytes{…}         histogram of response body sizes (BYTE_BUCKETS)
//   trellis_tcp_connections_opened_total{reporter, source_*, destination_*, mtls}
//   trellis_tcp_connections_closed_total{…}
//   trellis_tcp_received_bytes_total{…}    bytes read from the downstream (request direction)
//   trellis_tcp_sent_bytes_total{…}        bytes written to the downstream (response direction)
//   trellis_metrics_series_overflow_total  requests and connections folded into `unknown`
// source_*: source_workload, source_namespace, source_version, source_principal
// destination_*: destination_service, destination_namespace, destination_workload,
//                destination_version, destination_principal
import type { Registry, RegistryContentType } from 'prom-client';
import { registerEdgeFamilies } from './edge-families.ts';
import { BYTE_BOUNDS, bucketIndex, LATENCY_BOUNDS } from './histogram.ts';

export type Reporter = 'source' | 'destination';
export const UNKNOWN = 'unknown';

export const SOURCE_LABELS = [
  'source_workload',
  'source_namespace',
  'source_version',
  'source_principal',
] as const;
export const DESTINATION_LABELS = [
  'destination_service',
  'destination_namespace',
  'destination_workload',
  'destination_version',
  'destination_principal',
] as const;
const TCP_LABELS = ['reporter', ...SOURCE_LABELS, ...DESTINATION_LABELS, 'mtls'] as const;
const EDGE_LABELS = [
  'reporter',
  ...SOURCE_LABELS,
  ...DESTINATION_LABELS,
  'route',
  'response_code',
  'grpc_status',
  'mtls',
] as const;

/** grpc_status of a request that is not gRPC: the label is empty. */
export const GRPC_NONE = -1;
/** grpc_status of a gRPC call that ended without one: `unknown`. */
export const GRPC_UNKNOWN = -2;

export const DEFAULT_MAX_SERIES = 10_000;
/** Peers learnt from requests (identities, peer metadata) kept at most; the rest count as unknown. */
export const DEFAULT_MAX_PARTIES = 2_000;

/** One side of an edge as labels. Interned: equal labels give the same object, across reloads. */
export interface EdgeParty {
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** One label set of the request families: a count and three histograms, bumped in place. */
export class EdgeCell {
  readonly labels: Readonly<Record<string, string>>;
  count = 0;
  readonly latency = new Float64Array(LATENCY_BOUNDS.length + 1);
  latencySumMs = 0;
  readonly requestBytes = new Float64Array(BYTE_BOUNDS.length + 1);
  requestBytesSum = 0;
  readonly responseBytes = new Float64Array(BYTE_BOUNDS.length + 1);
  responseBytesSum = 0;

  constructor(labels: Record<string, string>) {
    this.labels = Object.freeze(labels);
  }

  reset(): void {
    this.count = 0;
    this.latency.fill(0);
    this.latencySumMs = 0;
    this.requestBytes.fill(0);
    this.requestBytesSum = 0;
    this.responseBytes.fill(0);
    this.responseBytesSum = 0;
  }
}

/** The cells of one (route, peer), by status × 32 + gRPC code + 2; the last one used first. */
class PeerCells {
  readonly byCode = new Map<number, EdgeCell>();
  lastCode = -1;
  lastCell: EdgeCell | undefined;
}

/** Where one route's requests are counted, for one reporter and its own workload; made per config. */
export class EdgeRoute {
  readonly reporter: Reporter;
  readonly self: EdgeParty;
  readonly name: string;
  readonly byPeer = new Map<EdgeParty, PeerCells>();

  constructor(reporter: Reporter, self: EdgeParty, name: string) {
    this.reporter = reporter;
    this.self = self;
    this.name = name;
  }
}

/** TCP counters of one (reporter, own workload, peer); the relay bumps the byte counts per chunk. */
export class TcpSeries {
  readonly labels: Readonly<Record<string, string>>;
  opened = 0;
  closed = 0;
  receivedBytes = 0;
  sentBytes = 0;

  constructor(labels: Record<string, string>) {
    this.labels = Object.freeze(labels);
  }
}

export interface EdgeStatsOptions {
  maxSeries?: number | undefined;
  maxParties?: number | undefined;
}

export class EdgeStats {
  readonly maxSeries: number;
  readonly maxParties: number;
  /** Requests and connections counted under an `unknown` series because the cap was reached. */
  overflow = 0;
  readonly #cells: EdgeCell[] = [];
  readonly #tcp: TcpSeries[] = [];
  readonly #parties = new Map<string, EdgeParty>();
  readonly #routes = new Map<string, EdgeRoute>();
  readonly #tcpBySelf = new Map<EdgeParty, Map<EdgeParty, TcpSeries>>();
  readonly #overflowCells = new Map<Reporter, EdgeCell>();
  readonly #overflowTcp = new Map<Reporter, TcpSeries>();
  /** Label sets made so far (cells and TCP series), against maxSeries. */
  #size = 0;
  #boundedParties = 0;

  constructor(registry: Registry<RegistryContentType>, options: EdgeStatsOptions = {}) {
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
    this.maxParties = options.maxParties ?? DEFAULT_MAX_PARTIES;
    registerEdgeFamilies(registry, this.#cells, this.#tcp, {
      read: () => this.overflow,
      reset: () => (this.overflow = 0),
    });
  }

  /** Every cell made so far, in order of creation (append-only): what the stats reporter reads. */
  get cells(): readonly EdgeCell[] {
    return this.#cells;
  }

  /** Every TCP series made so far, in order of creation (append-only). */
  get tcpSeries(): readonly TcpSeries[] {
    return this.#tcp;
  }

  /** The interned party with these labels. For values from config; see boundedParty for the rest. */
  party(labels: Record<string, string>): EdgeParty {
    const key = partyKey(labels);
    let p = this.#parties.get(key);
    if (p === undefined) {
      p = Object.freeze({ key, labels: Object.freeze({ ...labels }) });
      this.#parties.set(key, p);
    }
    return p;
  }

  /** As party, for values learnt from traffic: undefined once maxParties of them exist. */
  boundedParty(labels: Record<string, string>): EdgeParty | undefined {
    const p = this.#parties.get(partyKey(labels));
    if (p !== undefined) return p;
    if (this.#boundedParties >= this.maxParties) return undefined;
    this.#boundedParties++;
    return this.party(labels);
  }

  /** Same (reporter, own party, route name) → same object. Call when compiling a config. */
  route(reporter: Reporter, self: EdgeParty, name: string): EdgeRoute {
    const key = `${reporter}\u0000${self.key}\u0000${name}`;
    let r = this.#routes.get(key);
    if (r === undefined) {
      r = new EdgeRoute(reporter, self, name);
      this.#routes.set(key, r);
    }
    return r;
  }

  /**
   * Hot path: one request of `route` with `peer` (the other side). `grpc` is a gRPC status code,
   * GRPC_NONE or GRPC_UNKNOWN; statuses outside 100–599 count as 0. Allocates nothing once the
   * cell exists.
   */
  record(
    route: EdgeRoute,
    peer: EdgeParty,
    status: number,
    grpc: number,
    latencyMs: number,
    requestBytes: number,
    responseBytes: number,
  ): void {
    let cells = route.byPeer.get(peer);
    if (cells === undefined) {
      cells = new PeerCells();
      route.byPeer.set(peer, cells);
    }
    const code =
      (status >= 100 && status <= 599 ? status : 0) * 32 + (grpc >= -2 && grpc <= 16 ? grpc : 2) + 2;
    let cell: EdgeCell | undefined;
    if (code === cells.lastCode) cell = cells.lastCell!;
    else {
      cell = cells.byCode.get(code);
      if (cell === undefined) cell = this.#newCell(route, peer, cells.byCode, code);
      else {
        cells.lastCode = code;
        cells.lastCell = cell;
      }
    }
    cell.count++;
    if (!(latencyMs >= 0)) latencyMs = 0; // NaN or a clock step backwards must not poison the sum
    cell.latency[bucketIndex(LATENCY_BOUNDS, latencyMs)]!++;
    cell.latencySumMs += latencyMs;
    cell.requestBytes[byteBucket(requestBytes)]!++;
    cell.requestBytesSum += requestBytes;
    cell.responseBytes[byteBucket(responseBytes)]!++;
    cell.responseBytesSum += responseBytes;
  }

  /** The TCP series of (reporter, own party, peer); per connection, not per chunk. */
  tcp(reporter: Reporter, self: EdgeParty, peer: EdgeParty): TcpSeries {
    let bySelf = this.#tcpBySelf.get(self);
    if (bySelf === undefined) this.#tcpBySelf.set(self, (bySelf = new Map()));
    let s = bySelf.get(peer);
    if (s !== undefined) return s;
    if (this.#size >= this.maxSeries) {
      this.overflow++;
      return this.#overflowTcpSeries(reporter);
    }
    this.#size++;
    s = new TcpSeries(ordered(TCP_LABELS, { ...self.labels, ...peer.labels, reporter }));
    bySelf.set(peer, s);
    this.#tcp.push(s);
    return s;
  }

  #newCell(route: EdgeRoute, peer: EdgeParty, cells: Map<number, EdgeCell>, code: number): EdgeCell {
    if (this.#size >= this.maxSeries) {
      // Not remembered: the next request with these labels is folded (and counted) again.
      this.overflow++;
      return this.#overflowCell(route.reporter);
    }
    this.#size++;
    const grpc = (code % 32) - 2;
    const labels = ordered(EDGE_LABELS, {
      ...route.self.labels,
      ...peer.labels,
      reporter: route.reporter,
      route: route.name,
      response_code: String(Math.floor(code / 32)),
      grpc_status: grpc === GRPC_NONE ? '' : grpc === GRPC_UNKNOWN ? UNKNOWN : String(grpc),
    });
    const cell = new EdgeCell(labels);
    cells.set(code, cell);
    this.#cells.push(cell);
    return cell;
  }

  #overflowCell(reporter: Reporter): EdgeCell {
    let c = this.#overflowCells.get(reporter);
    if (c === undefined) {
      c = new EdgeCell(ordered(EDGE_LABELS, { reporter }));
      this.#overflowCells.set(reporter, c);
      this.#cells.push(c);
    }
    return c;
  }

  #overflowTcpSeries(reporter: Reporter): TcpSeries {
    let s = this.#overflowTcp.get(reporter);
    if (s === undefined) {
      s = new TcpSeries(ordered(TCP_LABELS, { reporter }));
      this.#overflowTcp.set(reporter, s);
      this.#tcp.push(s);
    }
    return s;
  }
}

const LAST_BYTE_BOUND = BYTE_BOUNDS[BYTE_BOUNDS.length - 1]!;

/**
 * bucketIndex(BYTE_BOUNDS, n) without the loop: the bounds are 0, then 2^6, 2^8, … 2^24, so the
 * index follows from the bit length of n - 1 (sizes are whole numbers).
 */
function byteBucket(n: number): number {
  if (!(n > 0)) return 0;
  if (n > LAST_BYTE_BOUND) return BYTE_BOUNDS.length;
  const bits = 32 - Math.clz32(Math.ceil(n) - 1); // n <= 2^bits
  return bits <= 6 ? 1 : 1 + ((bits - 5) >> 1);
}

function partyKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');
}

/** `names` in order, each from `values` or `unknown`. */
function ordered(names: readonly string[], values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = values[n] ?? UNKNOWN;
  return out;
}
