// Which policies allow which edges (GET /api/v1/security/edges): every caller service → callee
// service pair, observed or possible, explained as `trellis authz explain` would, with the policy
// that decided and the resources it came from (links to the config view).
import { useState } from 'preact/hooks';
import { ErrorNote, MtlsBadge } from '../../components/golden.tsx';
import { useApi } from '../../hooks.ts';
import { href } from '../../router.ts';
import type { SecurityEdge, SecurityEdgesResponse } from '../../types.ts';
import { parseResourceName, resourceHref } from '../config/names.ts';

const VERDICT: Record<SecurityEdge['verdict'], { tone: string; text: string }> = {
  allow: { tone: 'good', text: 'allowed' },
  partial: { tone: 'warn', text: 'partly denied' },
  deny: { tone: 'bad', text: 'denied' },
};
const MODE_TONE: Record<SecurityEdge['mtls'], string> = {
  STRICT: 'good',
  PERMISSIVE: 'warn',
  MIXED: 'warn',
  DISABLE: 'bad',
};

function Service(props: { namespace: string; name: string }) {
  if (props.name === 'unknown') return <span class="muted">unmeshed callers</span>;
  return (
    <a href={href(['services', props.namespace, props.name])}>
      {props.name}
      <span class="muted">.{props.namespace}</span>
    </a>
  );
}

function Resources(props: { items: string[] | undefined }) {
  if (props.items === undefined || props.items.length === 0) return null;
  return (
    <ul class="plain-list">
      {props.items.map((r) => {
        const ref = parseResourceName(r);
        return (
          <li>{ref === undefined ? r : <a href={resourceHref(ref.kind, ref.namespace, ref.name)}>{r}</a>}</li>
        );
      })}
    </ul>
  );
}

export function EdgesPanel() {
  const edges = useApi<SecurityEdgesResponse>('/api/v1/security/edges', 15_000);
  const [verdict, setVerdict] = useState<'' | SecurityEdge['verdict']>('');
  const [observedOnly, setObservedOnly] = useState(false);
  const missing = edges.error?.status === 404 && edges.error.code === 'TRELLIS_NOT_FOUND';
  const all = edges.data?.items ?? [];
  // Edges with traffic first (what is happening), then the possible ones; the server's order within each.
  const items = all
    .filter((e) => (verdict === '' || e.verdict === verdict) && (!observedOnly || e.observed))
    .sort((a, b) => Number(b.observed) - Number(a.observed));
  return (
    <section class="panel" aria-labelledby="security-edges">
      <h2 id="security-edges">Policies by edge</h2>
      {missing ? (
        <p class="note" role="note">
          This control plane does not explain edges yet (no <code>GET /api/v1/security/edges</code>). Ask
          about one pair with <code>trellis authz explain</code>.
        </p>
      ) : (
        <ErrorNote error={edges.error} />
      )}
      {edges.loading && edges.data === undefined && <p class="muted">Loading…</p>}
      {edges.data !== undefined && (
        <div class="toolbar">
          <div>
            <label for="edges-verdict">Verdict</label>
            <select
              id="edges-verdict"
              value={verdict}
              onChange={(e) => setVerdict(e.currentTarget.value as '' | SecurityEdge['verdict'])}
            >
              <option value="">all</option>
              <option value="allow">allowed</option>
              <option value="partial">partly denied</option>
              <option value="deny">denied</option>
            </select>
          </div>
          <div class="check-field">
            <label>
              <input
                type="checkbox"
                checked={observedOnly}
                onChange={(e) => setObservedOnly(e.currentTarget.checked)}
              />{' '}
              Only edges with traffic (15 min)
            </label>
          </div>
          <p class="muted">
            {items.length} of {all.length} edges · trust domain <code>{edges.data.trustDomain}</code>
          </p>
        </div>
      )}
      {edges.data !== undefined && all.length === 0 && <p class="muted">No services with workloads yet.</p>}
      {items.length > 0 && (
        <table data-testid="policy-edges-table" class="edges-table">
          <thead>
            <tr>
              <th scope="col">Caller → callee</th>
              <th scope="col">Observed</th>
              <th scope="col">mTLS</th>
              <th scope="col">Verdict</th>
              <th scope="col">Deciding policy</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr>
                <td>
                  <Service {...e.src} /> → <Service {...e.dst} />
                  {e.src.serviceAccounts.length > 0 && (
                    <div class="muted">as {e.src.serviceAccounts.map((sa) => `sa/${sa}`).join(', ')}</div>
                  )}
                </td>
                <td>{e.observed ? 'yes' : <span class="muted">no</span>}</td>
                <td>
                  <span class={`badge badge-${MODE_TONE[e.mtls]}`} title="the callee's inbound mTLS mode">
                    {e.mtls}
                  </span>{' '}
                  {e.observed && <MtlsBadge secured={e.secured} />}
                </td>
                <td>
                  <span class={`badge badge-${VERDICT[e.verdict].tone}`}>{VERDICT[e.verdict].text}</span>
                </td>
                <td>
                  {e.policy !== undefined ? (
                    <code>{e.policy}</code>
                  ) : (e.resources ?? []).length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    <span class="muted">mTLS mode from</span>
                  )}
                  <Resources items={e.resources} />
                </td>
                <td>{e.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
