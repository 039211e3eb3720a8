// One traffic split: per rule, each backend's configured weight next to the share of requests its
// versions served and their golden metrics; below, requests per second of each version over time.
import { useMemo } from 'preact/hooks';
import { TimeChart } from '../../components/chart.tsx';
import { ErrorNote, GOLDEN_HEADERS, GoldenCells } from '../../components/golden.tsx';
import { rps } from '../../format.ts';
import { useApi } from '../../hooks.ts';
import { href } from '../../router.ts';
import type { MeshEvent, SeriesResponse } from '../../types.ts';
import { sharePercent, sourcesOf } from '../service/route-text.ts';
import { ShareBar } from '../service/traffic.tsx';
import type { VersionRef } from '../service/versions.ts';
import { settledPoints } from '../service/series.ts';
import { observedRows } from './observed.ts';
import type { Split, SplitRule } from './use-splits.ts';

function RuleTable(props: { split: Split; rule: SplitRule; event: MeshEvent | undefined; testIds: boolean }) {
  const { split, rule } = props;
  const rows = observedRows(rule, props.event?.deployments);
  const id = `split-${split.namespace}-${split.name}-${rule.index}`;
  const tid = (s: string): string | undefined => (props.testIds ? s : undefined);
  return (
    <>
      <h3 id={id}>
        Rule <span class="mono">{rule.name ?? `#${rule.index + 1}`}</span>{' '}
        <span class="muted">({rule.when})</span>
      </h3>
      <table aria-labelledby={id}>
        <thead>
          <tr>
            <th scope="col">Backend</th>
            <th scope="col">Configured</th>
            <th scope="col">Version</th>
            <th scope="col">Observed share</th>
            {GOLDEN_HEADERS.map((h) => (
              <th scope="col" class="num" key={h}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.backend.service}/${r.version?.deployment ?? ''}`}>
              {r.firstOfBackend && (
                <>
                  <th scope="row" rowSpan={r.rowsOfBackend}>
                    <a href={href(['services', r.backend.ref.namespace, r.backend.ref.name])}>
                      {r.backend.ref.name}
                      {r.backend.ref.namespace !== split.namespace && `.${r.backend.ref.namespace}`}
                    </a>
                    {r.backend.missing && (
                      <>
                        {' '}
                        <span class="badge badge-bad" title="no such service: requests sent to it fail">
                          missing
                        </span>
                      </>
                    )}
                  </th>
                  <td rowSpan={r.rowsOfBackend}>
                    <span data-testid={tid(`weight-${split.name}-${r.backend.ref.name}`)}>
                      {sharePercent(r.backend.share)}
                    </span>{' '}
                    <span class="muted">(weight {r.backend.weight})</span>
                    {r.rowsOfBackend > 1 && (
                      <div class="muted">
                        observed {r.backendObserved === null ? '-' : sharePercent(r.backendObserved)}
                      </div>
                    )}
                  </td>
                </>
              )}
              <td>
                {r.version === undefined ? (
                  <span class="muted">no endpoints</span>
                ) : (
                  <>
                    {r.version.version}{' '}
                    <span class="muted">
                      deployment <span class="mono">{r.version.deployment}</span>
                    </span>
                    {r.shared && (
                      <span class="badge badge-warn" title="another backend of this rule selects it too">
                        shared
                      </span>
                    )}
                  </>
                )}
              </td>
              <td>
                {r.version !== undefined && (
                  <span class="share">
                    <ShareBar share={r.observed} />
                    <span data-testid={tid(`observed-${split.name}-${r.version.version}`)}>
                      {r.observed === null ? '-' : sharePercent(r.observed)}
                    </span>
                  </span>
                )}
              </td>
              <GoldenCells golden={r.stat?.stats} />
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function VersionsChart(props: { namespace: string; name: string; versions: VersionRef[] }) {
  const q = new URLSearchParams({ kind: 'deployments', namespace: props.namespace, window: '15m' });
  const { data, error, loading } = useApi<SeriesResponse>(`/api/v1/stats/series?${q}`, 10_000);
  const wanted = props.versions.map((v) => v.deployment).join('\n');
  const chart = useMemo(() => {
    if (data === undefined) return undefined;
    const items = props.versions.flatMap((v) => {
      const item = data.items.find((i) => i.namespace === props.namespace && i.name === v.deployment);
      return item === undefined ? [] : [{ v, item }];
    });
    const points = items.map(({ v, item }) => ({ v, points: settledPoints(item.points, data.stepMs) }));
    return {
      x: points[0]?.points.map((p) => p.t) ?? [],
      series: points.map(({ v, points }) => ({
        label: `${v.version} (${v.deployment})`,
        values: points.map((p) => p.rps),
      })),
    };
  }, [data, wanted]);
  return (
    <>
      <ErrorNote error={error} />
      {chart === undefined ? (
        loading && <p class="muted">Loading…</p>
      ) : chart.series.length === 0 ? (
        <p class="muted">No series for these versions yet.</p>
      ) : (
        <TimeChart
          title={`Requests per second per version of ${props.name}`}
          x={chart.x}
          series={chart.series}
          format={rps}
        />
      )}
    </>
  );
}

export function SplitPanel(props: { split: Split; event: MeshEvent | undefined }) {
  const s = props.split;
  const { lowered, sources } = sourcesOf(s.route);
  const versions = new Map<string, VersionRef>();
  for (const rule of s.rules)
    for (const b of rule.backends) for (const v of b.versions) versions.set(v.deployment, v);
  const headingId = `canary-${s.namespace}-${s.name}-h`;
  return (
    <section class="panel svc-panel" data-testid={`canary-${s.name}`} aria-labelledby={headingId}>
      <h2 id={headingId}>
        <a href={href(['services', s.namespace, s.name])}>{s.name}</a>{' '}
        <span class="muted title-ns">namespace {s.namespace}</span>
      </h2>
      <p class="muted">
        Split by TrafficRoute {s.route.metadata.namespace}/{s.route.metadata.name}
        {lowered && `, lowered from ${sources.map((r) => `${r.kind} ${r.namespace}/${r.name}`).join(', ')}`}.
        Each backend is a service; its versions are those of the workloads it selects, measured as their
        deployments (app-version) over the last {props.event?.window ?? '1m'}.
      </p>
      {s.rules.map((rule, i) => (
        <RuleTable key={rule.index} split={s} rule={rule} event={props.event} testIds={i === 0} />
      ))}
      {s.others.length > 0 && (
        <p class="muted">
          Other rules of this route also send requests, counted in the observed shares:{' '}
          {s.others.map((o) => `${o.name} (${o.when}) → ${o.to.join(', ') || 'nothing'}`).join('; ')}.
        </p>
      )}
      <VersionsChart namespace={s.namespace} name={s.name} versions={[...versions.values()]} />
    </section>
  );
}
