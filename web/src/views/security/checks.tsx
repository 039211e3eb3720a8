// `trellis check` (GET /api/v1/check): the CA, the proxies' certificates, renewals and clocks.
import { ErrorNote } from '../../components/golden.tsx';
import { useApi } from '../../hooks.ts';
import type { CheckResponse, SecurityCheck } from '../../types.ts';

function Verdict(props: { check: SecurityCheck }) {
  const c = props.check;
  if (c.ok) return <span class="badge badge-good">ok</span>;
  return c.severity === 'error' ? (
    <span class="badge badge-bad">error</span>
  ) : (
    <span class="badge badge-warn">warning</span>
  );
}

export function ChecksPanel() {
  const check = useApi<CheckResponse>('/api/v1/check', 30_000);
  const checks = check.data?.checks ?? [];
  const failing = checks.filter((c) => !c.ok).length;
  return (
    <section class="panel" aria-labelledby="security-checks">
      <h2 id="security-checks">
        Checks{' '}
        {check.data !== undefined && (
          <span class={`badge ${failing === 0 ? 'badge-good' : 'badge-warn'}`}>
            {failing === 0 ? 'all passed' : `${failing} of ${checks.length} need attention`}
          </span>
        )}
      </h2>
      <ErrorNote error={check.error} />
      {check.loading && check.data === undefined && <p class="muted">Loading…</p>}
      {checks.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Result</th>
              <th scope="col">Check</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {checks.map((c) => (
              <tr>
                <td>
                  <Verdict check={c} />
                </td>
                <td class="mono">{c.name}</td>
                <td>{c.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
