// Tables of `trellis stat|routes|edges`, in the columns `linkerd viz stat|routes|edges` use.
import type { EdgesResponse, RoutesResponse, StatResponse } from '../control/stats/api-stats.ts';
import type { Golden } from '../control/stats/query.ts';
import { table } from './output.ts';

const NONE = '-';

export function percent(g: Golden | null): string {
  return g?.successRate == null ? NONE : `${(g.successRate * 100).toFixed(2)}%`;
}

export function rps(g: Golden | null): string {
  return g === null || g.successRate === null ? NONE : `${g.rps.toFixed(1)}rps`;
}

export function latency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return NONE;
  return `${Number(ms.toPrecision(3))}ms`;
}

function bytesPerSec(n: number): string {
  return n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(1)}MiB/s`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)}KiB/s`
      : `${n.toFixed(1)}B/s`;
}

export function statTable(res: StatResponse, opts: { wide: boolean; showNamespace: boolean }): string {
  const headers = [
    ...(opts.showNamespace ? ['NAMESPACE'] : []),
    'NAME',
    'MESHED',
    'SUCCESS',
    'RPS',
    'LATENCY_P50',
    'LATENCY_P95',
    'LATENCY_P99',
    'TCP_CONN',
    ...(opts.wide ? ['READ_BYTES/SEC', 'WRITE_BYTES/SEC'] : []),
  ];
  const rows = res.items.map((i) => {
    const g = i.stats;
    return [
      ...(opts.showNamespace ? [i.namespace] : []),
      i.name,
      i.meshed === null ? NONE : `${i.meshed.connected}/${i.meshed.total}`,
      percent(g),
      rps(g),
      latency(g?.latencyMs.p50),
      latency(g?.latencyMs.p95),
      latency(g?.latencyMs.p99),
      g?.tcp == null ? NONE : String(g.tcp.openConnections),
      ...(opts.wide
        ? [
            g?.tcp == null ? NONE : bytesPerSec(g.tcp.readBytesPerSec),
            g?.tcp == null ? NONE : bytesPerSec(g.tcp.writeBytesPerSec),
          ]
        : []),
    ];
  });
  return table(headers, rows);
}

/** `default` (no TrafficRoute: one catch-all) as Linkerd shows it; an unnamed rule by its index. */
export function routeName(route: string, service: string, namespace: string): string {
  if (route === 'default' || route === 'unknown') return '[DEFAULT]';
  const prefix = `${service}.${namespace}/`;
  return route.startsWith(prefix) ? `#${route.slice(prefix.length)}` : route;
}

export function routesTable(res: RoutesResponse, opts: { wide: boolean }): string {
  const headers = [
    'ROUTE',
    'SERVICE',
    'SUCCESS',
    'RPS',
    'LATENCY_P50',
    'LATENCY_P95',
    'LATENCY_P99',
    ...(opts.wide ? ['SUCCESSES', 'FAILURES'] : []),
  ];
  const rows = res.items.map((i) => [
    routeName(i.route, res.name, res.namespace),
    res.name,
    percent(i.stats),
    rps(i.stats),
    latency(i.stats?.latencyMs.p50),
    latency(i.stats?.latencyMs.p95),
    latency(i.stats?.latencyMs.p99),
    ...(opts.wide ? [String(i.stats?.successCount ?? 0), String(i.stats?.failureCount ?? 0)] : []),
  ]);
  return table(headers, rows);
}

export function edgesTable(res: EdgesResponse, opts: { wide: boolean }): string {
  const headers = [
    'SRC',
    'DST',
    'SRC_NS',
    'DST_NS',
    'SECURED',
    'CLIENT_ID',
    'SERVER_ID',
    ...(opts.wide ? ['SUCCESS', 'RPS', 'MEASURED_BY'] : []),
  ];
  const ids = (list: string[]): string => (list.length === 0 ? NONE : list.join(','));
  const rows = res.items.map((e) => [
    e.src.name,
    e.dst.name,
    e.src.namespace,
    e.dst.namespace,
    e.secured ? '√' : '×',
    ids(e.clientIds),
    ids(e.serverIds),
    ...(opts.wide ? [percent(e.stats), rps(e.stats), e.side] : []),
  ]);
  return table(headers, rows);
}
