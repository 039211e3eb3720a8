// The Prometheus side of EdgeStats (edge-stats.ts): its families read the cells and TCP series
// when the Registry is scraped, never on the data path. Across `--workers N` they merge like every
// ScrapedFamily (workers.ts): each label set summed, histogram buckets le by le.
import type { Metric, Registry, RegistryContentType } from 'prom-client';
import type { EdgeCell, TcpSeries } from './edge-stats.ts';
import { BYTE_BOUNDS, LATENCY_BOUNDS, pushHistogram } from './histogram.ts';
import { ScrapedFamily, type FamilyType, type SeriesValue } from './scraped-family.ts';

type TcpField = 'opened' | 'closed' | 'receivedBytes' | 'sentBytes';

/** Registers the edge, TCP and overflow families over live arrays (EdgeStats appends to them). */
export function registerEdgeFamilies(
  registry: Registry<RegistryContentType>,
  cells: readonly EdgeCell[],
  tcp: readonly TcpSeries[],
  overflow: { read(): number; reset(): void },
): void {
  const histogram = (
    name: string,
    help: string,
    pick: (c: EdgeCell) => [Float64Array, Float64Array, number],
  ): ScrapedFamily =>
    new ScrapedFamily(name, help, 'histogram', {
      read: (out) => {
        for (const c of cells) {
          const [bounds, counts, sum] = pick(c);
          pushHistogram(out, name, c.labels, bounds, counts, sum);
        }
      },
      reset: () => {}, // trellis_edge_requests_total's reset zeroes the whole cell
    });
  const tcpCounter = (name: string, help: string, field: TcpField): ScrapedFamily =>
    family(
      name,
      help,
      'counter',
      tcp,
      (s) => s[field],
      (s) => (s[field] = 0),
    );
  const families = [
    family(
      'trellis_edge_requests_total',
      'Requests by source and destination workload, route, response code and gRPC status.',
      'counter',
      cells,
      (c) => c.count,
      (c) => c.reset(),
    ),
    histogram(
      'trellis_edge_request_duration_ms',
      'Time from a complete request head to the end of the response, in milliseconds, per edge.',
      (c) => [LATENCY_BOUNDS, c.latency, c.latencySumMs],
    ),
    histogram('trellis_edge_request_bytes', 'Request body sizes in bytes, per edge.', (c) => [
      BYTE_BOUNDS,
      c.requestBytes,
      c.requestBytesSum,
    ]),
    histogram('trellis_edge_response_bytes', 'Response body sizes in bytes, per edge.', (c) => [
      BYTE_BOUNDS,
      c.responseBytes,
      c.responseBytesSum,
    ]),
    tcpCounter('trellis_tcp_connections_opened_total', 'TCP connections opened, per edge.', 'opened'),
    tcpCounter('trellis_tcp_connections_closed_total', 'TCP connections closed, per edge.', 'closed'),
    tcpCounter(
      'trellis_tcp_received_bytes_total',
      'Bytes received from the downstream on TCP connections, per edge.',
      'receivedBytes',
    ),
    tcpCounter(
      'trellis_tcp_sent_bytes_total',
      'Bytes sent to the downstream on TCP connections, per edge.',
      'sentBytes',
    ),
    new ScrapedFamily(
      'trellis_metrics_series_overflow_total',
      'Requests and connections counted under `unknown` labels because the series cap was reached.',
      'counter',
      { read: (out) => void out.push({ labels: {}, value: overflow.read() }), reset: overflow.reset },
    ),
  ];
  // See ProxyStats: ScrapedFamily has what Registry reads from a metric.
  for (const f of families) registry.registerMetric(f as unknown as Metric);
}

function family<T extends { labels: Readonly<Record<string, string>> }>(
  name: string,
  help: string,
  type: FamilyType,
  items: readonly T[],
  value: (item: T) => number,
  reset: (item: T) => void,
): ScrapedFamily {
  return new ScrapedFamily(name, help, type, {
    read: (out: SeriesValue[]) => {
      for (const item of items) out.push({ labels: { ...item.labels }, value: value(item) });
    },
    reset: () => items.forEach(reset),
  });
}
