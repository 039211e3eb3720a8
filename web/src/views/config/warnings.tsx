// What is wrong with the config in force (GET /api/v1/warnings): dangling references, conflicts,
// how other meshes' kinds lowered — what `trellis apply` warns of, over every stored resource.
import { useEffect } from 'preact/hooks';
import { ErrorNote } from '../../components/golden.tsx';
import { useApi } from '../../hooks.ts';
import { useMesh } from '../../mesh.tsx';
import type { WarningsResponse } from '../../types.ts';
import { parseResourceName, resourceHref } from './names.ts';

export function WarningsPanel() {
  const warnings = useApi<WarningsResponse>('/api/v1/warnings', 15_000);
  // A change to the config (here, the CLI, another tab) shows at once, not at the next refresh.
  const revision = useMesh().event?.revision;
  useEffect(() => {
    if (revision !== undefined) warnings.reload();
  }, [revision]);
  const missing = warnings.error?.status === 404 && warnings.error.code === 'TRELLIS_NOT_FOUND';
  const items = warnings.data?.items ?? [];
  return (
    <section class="panel" aria-labelledby="config-warnings">
      <h2 id="config-warnings">
        Validation warnings{' '}
        {warnings.data !== undefined && (
          <span class={`badge ${items.length === 0 ? 'badge-good' : 'badge-warn'}`}>
            {items.length === 0 ? 'none' : `${items.length} ${items.length === 1 ? 'warning' : 'warnings'}`}
          </span>
        )}
      </h2>
      {missing ? (
        <p class="muted" role="note">
          This control plane does not report config warnings (no <code>GET /api/v1/warnings</code>); run{' '}
          <code>trellis analyze</code> instead.
        </p>
      ) : (
        <ErrorNote error={warnings.error} />
      )}
      {warnings.data !== undefined &&
        (items.length === 0 ? (
          <p class="muted">No warnings: every reference resolves and nothing conflicts.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Resource</th>
                <th scope="col">Field</th>
                <th scope="col">Warning</th>
              </tr>
            </thead>
            <tbody>
              {items.map((w) => {
                const ref = parseResourceName(w.resource);
                const label = w.resource.replace(/^resources\//, '');
                return (
                  <tr>
                    <td>
                      {ref === undefined ? (
                        label || <span class="muted">-</span>
                      ) : (
                        <a href={resourceHref(ref.kind, ref.namespace, ref.name)}>{label}</a>
                      )}
                    </td>
                    <td class="mono">{w.path || '-'}</td>
                    <td>
                      <span class="badge badge-warn">warning</span> {w.message}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ))}
    </section>
  );
}
