// Security: the CA, the identities the proxies hold, `trellis check`, and which policies allow which
// edges of the service graph.
import { CaPanel } from './security/ca.tsx';
import { ChecksPanel } from './security/checks.tsx';
import { EdgesPanel } from './security/edges.tsx';
import { IdentitiesPanel } from './security/identities.tsx';

export function SecurityView() {
  return (
    <section aria-labelledby="security-title">
      <h1 id="security-title">Security</h1>
      <div class="grid-2">
        <CaPanel />
        <ChecksPanel />
      </div>
      <IdentitiesPanel />
      <EdgesPanel />
    </section>
  );
}
