// What to tap: a service or workload (picked from the live ones, or typed), the server-side filters
// of `trellis tap` (method, path prefix, authority, destination service), a rate cap and headers.
import { useState } from 'preact/hooks';
import { useApi } from '../../hooks.ts';
import { useMesh } from '../../mesh.tsx';
import type { ProxyStatus } from '../../types.ts';
import type { TapFormValues, TargetKind } from './target.ts';

interface Props {
  values: TapFormValues;
  onChange: (v: TapFormValues) => void;
  running: boolean;
  onStart: () => void;
  onStop: () => void;
  problem: string | undefined;
}

export function TapForm(props: Props) {
  const { values: v, onChange } = props;
  const set = (patch: Partial<TapFormValues>): void => onChange({ ...v, ...patch });
  const { event } = useMesh();
  // Workloads are named by their registration: the connected proxies list them.
  const proxies = useApi<{ items: ProxyStatus[] }>(
    v.kind === 'workload' ? '/api/v1/proxies' : undefined,
    15_000,
  );
  const known =
    v.kind === 'service'
      ? (event?.services ?? []).map((s) => `${s.namespace}/${s.name}`)
      : [...new Set((proxies.data?.items ?? []).map((p) => `${p.namespace}/${p.workload}`))];
  const picked = `${v.namespace}/${v.name}`;
  const [showFilters, setShowFilters] = useState(v.method + v.pathPrefix + v.authority + v.to !== '');
  return (
    <form
      class="panel tap-form"
      aria-label="Tap target and filters"
      onSubmit={(e) => {
        e.preventDefault();
        props.onStart();
      }}
    >
      <div class="toolbar">
        <div>
          <label for="tap-kind">Target kind</label>
          <select
            id="tap-kind"
            value={v.kind}
            onChange={(e) => set({ kind: e.currentTarget.value as TargetKind })}
          >
            <option value="service">service</option>
            <option value="workload">workload</option>
          </select>
        </div>
        <div>
          <label for="tap-known">Known {v.kind}s</label>
          <select
            id="tap-known"
            value={known.includes(picked) ? picked : ''}
            onChange={(e) => {
              const [namespace = 'default', name = ''] = e.currentTarget.value.split('/');
              if (name !== '') set({ namespace, name });
            }}
          >
            <option value="">{known.length === 0 ? '(none seen yet)' : '(pick one, or type below)'}</option>
            {known.sort().map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="tap-namespace">Namespace</label>
          <input
            id="tap-namespace"
            value={v.namespace}
            size={12}
            onInput={(e) => set({ namespace: e.currentTarget.value })}
          />
        </div>
        <div>
          <label for="tap-name">Name</label>
          <input
            id="tap-name"
            value={v.name}
            size={20}
            required
            onInput={(e) => set({ name: e.currentTarget.value })}
          />
        </div>
        <div>
          <label for="tap-rps">Max requests/s</label>
          <input
            id="tap-rps"
            type="number"
            min={1}
            max={1000}
            value={v.maxRps}
            size={6}
            onInput={(e) => set({ maxRps: e.currentTarget.value })}
          />
        </div>
        <div class="check-field">
          <label>
            <input
              type="checkbox"
              checked={v.headers}
              onChange={(e) => set({ headers: e.currentTarget.checked })}
            />{' '}
            Capture headers
          </label>
        </div>
        <div class="tap-buttons">
          <button type="submit" class="primary" data-testid="tap-start">
            {props.running ? 'Restart' : 'Start'}
          </button>
          <button type="button" data-testid="tap-stop" disabled={!props.running} onClick={props.onStop}>
            Stop
          </button>
        </div>
      </div>
      <button
        type="button"
        class="link-button"
        aria-expanded={showFilters}
        aria-controls="tap-filters"
        onClick={() => setShowFilters((s) => !s)}
      >
        {showFilters ? 'Hide filters' : 'Filters (method, path, authority, destination)'}
      </button>
      <div id="tap-filters" class="toolbar tap-filters" hidden={!showFilters}>
        <div>
          <label for="tap-method">Method</label>
          <input
            id="tap-method"
            value={v.method}
            size={8}
            placeholder="any"
            onInput={(e) => set({ method: e.currentTarget.value })}
          />
        </div>
        <div>
          <label for="tap-path">Path prefix</label>
          <input
            id="tap-path"
            value={v.pathPrefix}
            placeholder="/"
            onInput={(e) => set({ pathPrefix: e.currentTarget.value })}
          />
        </div>
        <div>
          <label for="tap-authority">Authority</label>
          <input
            id="tap-authority"
            value={v.authority}
            placeholder="host or host:port"
            onInput={(e) => set({ authority: e.currentTarget.value })}
          />
        </div>
        <div>
          <label for="tap-to">To service (outbound)</label>
          <input
            id="tap-to"
            value={v.to}
            placeholder="name or name.namespace"
            list="tap-services"
            onInput={(e) => set({ to: e.currentTarget.value })}
          />
          <datalist id="tap-services">
            {(event?.services ?? []).map((s) => (
              <option value={`${s.name}.${s.namespace}`} />
            ))}
          </datalist>
        </div>
      </div>
      {props.problem !== undefined && (
        <p class="error" role="alert">
          {props.problem}
        </p>
      )}
    </form>
  );
}
