// The config: stored resources by kind with their YAML, what is wrong with them, and their history
// with each revision's diff and (admins) a rollback. The address carries the resource and the
// revision shown: #/config?kind=TrafficRoute&namespace=default&name=reviews-canary&rev=23.
import { useMesh } from '../mesh.tsx';
import { href, navigate } from '../router.ts';
import { HistoryPanel } from './config/history.tsx';
import { ResourcesPanel } from './config/resources.tsx';
import { WarningsPanel } from './config/warnings.tsx';

export function ConfigView(props: { query: URLSearchParams }) {
  const { role } = useMesh();
  const q = props.query;
  const revText = q.get('rev');
  const rev = revText !== null && /^\d+$/.test(revText) ? Number(revText) : undefined;
  const revisionHref = (r: number): string => {
    const next: Record<string, string> = {};
    for (const [k, v] of q) next[k] = v;
    next.rev = String(r);
    return href(['config'], next);
  };
  return (
    <section aria-labelledby="config-title">
      <h1 id="config-title">Config</h1>
      <ResourcesPanel kind={q.get('kind') ?? 'Service'} namespace={q.get('namespace')} name={q.get('name')} />
      <WarningsPanel />
      <HistoryPanel
        admin={role === 'admin'}
        selected={rev}
        revisionHref={revisionHref}
        onSelect={(r) => navigate(revisionHref(r))}
      />
    </section>
  );
}
