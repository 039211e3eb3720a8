// A service's golden metrics: now (the live event, last minute) and over the last 15 minutes
// (one point per 10 s bucket from /api/v1/stats/series, refreshed every 10 s).
import { useMemo } from 'preact/hooks';
import { TimeChart } from '../../components/chart.tsx';
import { ErrorNote, HealthBadge } from '../../components/golden.tsx';
import { healthOf, ms, percent, rps } from '../../format.ts';
import { useApi } from '../../hooks.ts';
import type { SeriesResponse, StatItem } from '../../types.ts';
import { settledPoints } from './series.ts';

export function GoldenNow(props: { item: StatItem | undefined; live: boolean; window: string | undefined }) {
  const g = props.item?.stats ?? null;
  return (
    <section class="panel svc-panel" data-testid="service-golden" aria-labelledby="golden-now-h">
      <h2 id="golden-now-h">
        Golden metrics <span class="muted">(last {props.window ?? '1m'})</span>
      </h2>
      {!props.live ? (
        <p class="muted">Waiting for live data…</p>
      ) : (
        <>
          <dl class="tiles">
            <div>
              <dt>Health</dt>
              <dd>
                <HealthBadge golden={g} />
              </dd>
            </div>
            <div>
              <dt>Success rate</dt>
              <dd class={`health-text-${healthOf(g)}`}>{percent(g?.successRate)}</dd>
            </div>
            <div>
              <dt>Requests/s</dt>
              <dd>{rps(g?.rps)}</dd>
            </div>
            <div>
              <dt>P50 latency</dt>
              <dd>{ms(g?.latencyMs.p50)}</dd>
            </div>
            <div>
              <dt>P99 latency</dt>
              <dd>{ms(g?.latencyMs.p99)}</dd>
            </div>
            <div>
              <dt>Meshed</dt>
              <dd>
                {props.item?.meshed != null
                  ? `${props.item.meshed.connected}/${props.item.meshed.total}`
                  : '-'}
              </dd>
            </div>
            {g?.tcp != null && (
              <div>
                <dt>TCP connections</dt>
                <dd>{g.tcp.openConnections}</dd>
              </div>
            )}
          </dl>
          {g === null && <p class="muted">No requests in the window.</p>}
        </>
      )}
    </section>
  );
}

export function GoldenCharts(props: { namespace: string; name: string }) {
  const q = new URLSearchParams({
    kind: 'services',
    namespace: props.namespace,
    name: props.name,
    window: '15m',
  });
  const { data, error, loading } = useApi<SeriesResponse>(`/api/v1/stats/series?${q}`, 10_000);
  const item = data?.items.find((i) => i.namespace === props.namespace && i.name === props.name);
  const charts = useMemo(() => {
    if (item === undefined || data === undefined) return undefined;
    const p = settledPoints(item.points, data.stepMs);
    return {
      x: p.map((pt) => pt.t),
      rate: [{ label: 'requests/s', values: p.map((pt) => pt.rps) }],
      success: [{ label: 'success', values: p.map((pt) => pt.successRate) }],
      latency: [
        { label: 'p50', values: p.map((pt) => pt.p50) },
        { label: 'p99', values: p.map((pt) => pt.p99) },
      ],
    };
  }, [item, data]);
  return (
    <section class="panel svc-panel" aria-labelledby="golden-time-h">
      <h2 id="golden-time-h">
        Over time <span class="muted">(last {data?.window ?? '15m'}, 10 s points)</span>
      </h2>
      <ErrorNote error={error} />
      {charts === undefined ? (
        loading ? (
          <p class="muted">Loading…</p>
        ) : (
          error === undefined && <p class="muted">No series for this service.</p>
        )
      ) : (
        <div class="chart-grid">
          <TimeChart title="Request rate" x={charts.x} series={charts.rate} format={rps} />
          <TimeChart
            title="Success rate"
            x={charts.x}
            series={charts.success}
            format={percent}
            yRange={[0, 1]}
          />
          <TimeChart title="Latency" x={charts.x} series={charts.latency} format={ms} />
        </div>
      )}
    </section>
  );
}
