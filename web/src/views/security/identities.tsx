// Workload identities: the certificate each connected proxy holds (GET /api/v1/proxies), its SPIFFE
// ID and lifetime. Sidecars renew at 2/3 of the lifetime, so under a third left means renewal is late.
import { ErrorNote } from '../../components/golden.tsx';
import { relative } from '../../format.ts';
import { useApi } from '../../hooks.ts';
import type { ProxyStatus } from '../../types.ts';
import { lifeLeft } from './life.ts';

export function IdentitiesPanel() {
  const proxies = useApi<{ items: ProxyStatus[] }>('/api/v1/proxies', 15_000);
  const items = [...(proxies.data?.items ?? [])].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.workload.localeCompare(b.workload),
  );
  return (
    <section class="panel" aria-labelledby="security-identities">
      <h2 id="security-identities">Workload identities</h2>
      <ErrorNote error={proxies.error} />
      {proxies.loading && proxies.data === undefined && <p class="muted">Loading…</p>}
      {proxies.data !== undefined && items.length === 0 && (
        <p class="muted">No proxy is connected to this control plane.</p>
      )}
      {items.length > 0 && (
        <table data-testid="identities-table">
          <thead>
            <tr>
              <th scope="col">Workload</th>
              <th scope="col">SPIFFE ID</th>
              <th scope="col">Serial</th>
              <th scope="col">Issued</th>
              <th scope="col">Expires</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => {
              const c = p.certificate;
              const life = c === undefined ? undefined : lifeLeft(c);
              return (
                <tr>
                  <td>
                    {p.namespace}/{p.workload}
                  </td>
                  {c === undefined ? (
                    <>
                      <td colSpan={4} class="muted">
                        no certificate (no CA, or not issued yet)
                      </td>
                      <td>
                        <span class="badge badge-warn">no certificate</span>
                      </td>
                    </>
                  ) : (
                    <>
                      <td class="mono">{c.spiffeId}</td>
                      <td class="mono" title={c.serial}>
                        {c.serial.slice(0, 12)}…
                      </td>
                      <td title={c.issuedAt}>{relative(c.issuedAt)}</td>
                      <td title={c.notAfter}>{relative(c.notAfter)}</td>
                      <td>
                        <span class={`badge badge-${life?.tone ?? 'warn'}`}>{life?.text}</span>
                      </td>
                    </>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <p class="muted">
        The whole chain of one workload: <code>trellis identity NAMESPACE/WORKLOAD</code>.
      </p>
    </section>
  );
}
