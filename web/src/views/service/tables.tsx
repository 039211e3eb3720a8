// The service page's tables: golden metrics per route (as the callers' proxies name the rules) and
// the endpoints behind the service.
import { ErrorNote, GOLDEN_HEADERS, GoldenCells, HealthBadge } from '../../components/golden.tsx';
import { useApi } from '../../hooks.ts';
import type { RoutesResponse, ServiceDescription } from '../../types.ts';

export function RoutesTable(props: { namespace: string; name: string }) {
  const path = `/api/v1/stats/services/${encodeURIComponent(props.namespace)}/${encodeURIComponent(props.name)}/routes`;
  const { data, error, loading } = useApi<RoutesResponse>(path, 10_000);
  return (
    <section aria-labelledby="routes-h">
      <h2 id="routes-h">
        Per route <span class="muted">(as callers see it, last {data?.window ?? '1m'})</span>
      </h2>
      <ErrorNote error={error} />
      {data === undefined ? (
        loading && <p class="muted">Loading…</p>
      ) : (
        <table data-testid="routes-table">
          <caption class="visually-hidden">Golden metrics per route of {props.name}</caption>
          <thead>
            <tr>
              <th scope="col">Route</th>
              <th scope="col">Health</th>
              {GOLDEN_HEADERS.map((h) => (
                <th scope="col" class="num" key={h}>
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.items.length === 0 ? (
              <tr>
                <td colSpan={6} class="muted">
                  No routes.
                </td>
              </tr>
            ) : (
              data.items.map((r) => (
                <tr key={r.route}>
                  <th scope="row" class="mono">
                    {r.route}
                  </th>
                  <td>
                    <HealthBadge golden={r.stats} />
                  </td>
                  <GoldenCells golden={r.stats} />
                </tr>
              ))
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Who has the endpoint ejected (outlier detection), and until when. */
function Ejections(props: { by: ServiceDescription['endpoints'][number]['ejectedBy'] }) {
  if (props.by === undefined) return <span class="muted">-</span>;
  if (props.by.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="plain-list">
      {props.by.map((e) => (
        <li key={`${e.proxy}/${e.cluster}`}>
          <span class="badge badge-warn">ejected</span> by <span class="mono">{e.proxy}</span>{' '}
          <span class="muted">until {new Date(e.until).toLocaleTimeString()}</span>
        </li>
      ))}
    </ul>
  );
}

export function EndpointsTable(props: { describe: ServiceDescription }) {
  const endpoints = props.describe.endpoints;
  return (
    <section aria-labelledby="endpoints-h">
      <h2 id="endpoints-h">Endpoints</h2>
      <table data-testid="endpoints-table">
        <caption class="visually-hidden">Endpoints of {props.describe.name}</caption>
        <thead>
          <tr>
            <th scope="col">Workload</th>
            <th scope="col">Address</th>
            <th scope="col">Version</th>
            <th scope="col">Ready</th>
            <th scope="col">Service account</th>
            <th scope="col">Ejected by</th>
          </tr>
        </thead>
        <tbody>
          {endpoints.length === 0 ? (
            <tr>
              <td colSpan={6} class="muted">
                No endpoints: no workload is registered for this service.
              </td>
            </tr>
          ) : (
            endpoints.map((e) => (
              <tr key={e.workload}>
                <th scope="row" class="mono">
                  {e.workload}
                </th>
                <td class="mono">
                  {e.address}:{e.inboundPort}
                </td>
                <td>{e.version}</td>
                <td>
                  {e.ready ? (
                    <span class="badge badge-good">ready</span>
                  ) : (
                    <span class="badge badge-bad">not ready</span>
                  )}
                </td>
                <td>{e.serviceAccount}</td>
                <td>
                  <Ejections by={e.ejectedBy} />
                </td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </section>
  );
}
