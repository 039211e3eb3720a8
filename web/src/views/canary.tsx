// Canary (#/canary): every service whose route in force splits its requests between weighted
// backends, with the configured weights next to the traffic each version actually served.
import { ErrorNote } from '../components/golden.tsx';
import { useMesh } from '../mesh.tsx';
import { SplitPanel } from './canary/split-panel.tsx';
import { useSplits } from './canary/use-splits.ts';

export function CanaryView() {
  const { event } = useMesh();
  const { splits, error } = useSplits(15_000);
  return (
    <section>
      <h1>Canary</h1>
      <p class="muted">
        Traffic splits in force: what each route is configured to send to each backend, and the share of
        requests each version served.
      </p>
      <ErrorNote error={error} />
      {splits === undefined ? (
        error === undefined && <p class="muted">Looking for traffic splits…</p>
      ) : splits.length === 0 ? (
        <div class="panel svc-panel" data-testid="canary-empty">
          <h2>No traffic split is configured</h2>
          <p>
            A split is a route with several weighted backends. Apply a TrafficSplit (SMI), a VirtualService
            whose route has weighted destinations (Istio, with a DestinationRule for the subsets), or a
            TrafficRoute, for example <code>trellis apply -f examples/demo/canary.yaml</code> (90 % of reviews
            to v1, 10 % to v2).
          </p>
        </div>
      ) : (
        splits.map((s) => <SplitPanel key={`${s.namespace}/${s.name}`} split={s} event={event} />)
      )}
    </section>
  );
}
