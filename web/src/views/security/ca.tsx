// The mesh CA (GET /api/v1/ca, `trellis ca`): trust domain, signer, trusted roots and their expiry,
// and a root rotation in progress with the proxies still to renew.
import { ErrorNote } from '../../components/golden.tsx';
import { relative } from '../../format.ts';
import { useApi } from '../../hooks.ts';
import type { CaView } from '../../types.ts';

const DAY_MS = 86_400_000;

/** Expiry as words, with a badge when it is near (30 days: `trellis check`'s signer warning) or past. */
export function Expiry(props: { notAfter: string; warnWithinMs?: number }) {
  const left = Date.parse(props.notAfter) - Date.now();
  const warn = props.warnWithinMs ?? 30 * DAY_MS;
  return (
    <span title={props.notAfter}>
      {left <= 0 ? `expired ${relative(props.notAfter)}` : `expires ${relative(props.notAfter)}`}{' '}
      {left <= 0 ? (
        <span class="badge badge-bad">expired</span>
      ) : left < warn ? (
        <span class="badge badge-warn">expires soon</span>
      ) : null}
    </span>
  );
}

export function CaPanel() {
  const ca = useApi<CaView>('/api/v1/ca', 30_000);
  const disabled = ca.error?.code === 'TRELLIS_CA_DISABLED';
  const v = ca.data;
  return (
    <section class="panel" aria-labelledby="security-ca">
      <h2 id="security-ca">Certificate authority</h2>
      {disabled ? (
        <p class="note" role="note">
          This control plane runs without a CA: workloads get no certificates and traffic is not mTLS.
        </p>
      ) : (
        <ErrorNote error={ca.error} />
      )}
      {ca.loading && v === undefined && <p class="muted">Loading…</p>}
      {v !== undefined && (
        <>
          <dl class="facts">
            <dt>Trust domain</dt>
            <dd>
              <code>{v.trustDomain}</code>
            </dd>
            <dt>Managed</dt>
            <dd>
              {v.managed === 'self'
                ? 'by the control plane (self-signed root in the store)'
                : 'from your files'}
            </dd>
            <dt>Signer</dt>
            <dd>
              {v.signer.subject}, <Expiry notAfter={v.signer.notAfter} />
            </dd>
            <dt>Rotation</dt>
            <dd>
              {v.rotation.inProgress ? (
                <>
                  <span class="badge badge-warn">in progress</span>
                  {v.rotation.startedAt !== undefined && ` since ${relative(v.rotation.startedAt)}`};{' '}
                  {v.rotation.pending.length === 0
                    ? 'every connected proxy holds a certificate of the new root: finish it with trellis ca finish-rotation'
                    : `${v.rotation.pending.length} ${v.rotation.pending.length === 1 ? 'proxy still holds' : 'proxies still hold'} a certificate of an older root: ${v.rotation.pending.map((p) => `${p.namespace}/${p.workload}`).join(', ')}`}
                </>
              ) : (
                <span class="badge badge-good">none in progress</span>
              )}
            </dd>
          </dl>
          <table>
            <caption class="caption-left">Trusted roots</caption>
            <thead>
              <tr>
                <th scope="col">Subject</th>
                <th scope="col">Fingerprint (SHA-256)</th>
                <th scope="col">Valid from</th>
                <th scope="col">Expiry</th>
                <th scope="col">Role</th>
              </tr>
            </thead>
            <tbody>
              {v.roots.map((r) => (
                <tr>
                  <td>{r.subject}</td>
                  <td class="mono" title={r.fingerprint}>
                    {r.fingerprint.slice(0, 23)}…
                  </td>
                  <td title={r.notBefore}>{r.notBefore.slice(0, 10)}</td>
                  <td>
                    <Expiry notAfter={r.notAfter} />
                  </td>
                  <td>
                    {r.current ? (
                      <span class="badge badge-good">current (signs)</span>
                    ) : (
                      <span class="badge">previous</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
