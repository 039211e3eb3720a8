// Live tap (`trellis tap` in the browser): the requests of a service or workload as its proxies
// see them. Admin only (a tap shows request lines and, on demand, headers). Opened with
// `?target=service/NS/NAME` it starts at once; leaving the view ends the tap.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ErrorNote } from '../components/golden.tsx';
import { relative } from '../format.ts';
import { useMesh } from '../mesh.tsx';
import { href } from '../router.ts';
import { TapForm } from './tap/form.tsx';
import { formFromQuery, tapBody, type TapFormValues } from './tap/target.ts';
import { rowText, TapTable } from './tap/rows.tsx';
import { MAX_ROWS, useTapStream, type TapState } from './tap/stream.ts';

export function TapView(props: { query: URLSearchParams }) {
  const { role } = useMesh();
  return (
    <section aria-labelledby="tap-title">
      <h1 id="tap-title">Tap</h1>
      {role === 'admin' ? (
        <TapPanel query={props.query} />
      ) : (
        <p class="panel" role="note">
          A tap shows live requests (and, if asked, their headers), so it needs an <strong>admin</strong>{' '}
          token; this dashboard is signed in with a reader token. Sign out and sign in with{' '}
          <code>.trellis/admin-token</code>, or run <code>trellis tap</code> with an admin token.
        </p>
      )}
    </section>
  );
}

/** The query a shared link would carry for these values. */
function linkQuery(v: TapFormValues): Record<string, string> {
  const q: Record<string, string> = {
    target: `${v.kind}/${v.namespace.trim() || 'default'}/${v.name.trim()}`,
  };
  if (v.method !== '') q.method = v.method.toUpperCase();
  if (v.pathPrefix !== '') q.path = v.pathPrefix;
  if (v.authority !== '') q.authority = v.authority;
  if (v.to !== '') q.to = v.to;
  if (v.maxRps !== '100') q.maxRps = v.maxRps;
  if (v.headers) q.headers = '1';
  return q;
}

function TapPanel(props: { query: URLSearchParams }) {
  const [values, setValues] = useState(() => formFromQuery(props.query));
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [filter, setFilter] = useState('');
  const tap = useTapStream();
  const { state } = tap;
  const running = state.phase === 'connecting' || state.phase === 'streaming';

  const start = (v: TapFormValues): void => {
    const body = tapBody(v);
    if (typeof body === 'string') return setProblem(body);
    setProblem(undefined);
    // The address names what is tapped, so the page can be shared or reloaded (no hashchange: no restart).
    history.replaceState(null, '', href(['tap'], linkQuery(v)));
    tap.start(body);
  };

  // A link naming a target starts at once (and a new target in the address restarts).
  const target = props.query.get('target');
  useEffect(() => {
    if (target === null) return;
    const v = formFromQuery(props.query);
    setValues(v);
    start(v);
  }, [target]);

  const needle = filter.trim().toLowerCase();
  const shown = useMemo(
    () => (needle === '' ? state.rows : state.rows.filter((r) => rowText(r).includes(needle))),
    [state.rows, needle],
  );

  return (
    <>
      <TapForm
        values={values}
        onChange={setValues}
        running={running}
        onStart={() => start(values)}
        onStop={tap.stop}
        problem={problem}
      />
      <TapStatus state={state} />
      <ErrorNote error={state.error} />
      <div class="toolbar">
        <div>
          <label for="tap-filter">Filter rows</label>
          <input
            id="tap-filter"
            type="search"
            value={filter}
            placeholder="path, status, workload…"
            onInput={(e) => setFilter(e.currentTarget.value)}
          />
        </div>
        <button
          type="button"
          data-testid="tap-pause"
          aria-pressed={state.paused}
          onClick={() => tap.setPaused(!state.paused)}
        >
          {state.paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" onClick={tap.clear} disabled={state.rows.length === 0 && state.seen === 0}>
          Clear
        </button>
        <p class="muted tap-count" aria-live="polite">
          {needle === '' ? `${state.rows.length} rows` : `${shown.length} of ${state.rows.length} rows match`}
          {state.rows.length >= MAX_ROWS ? ` (newest ${MAX_ROWS} kept)` : ''}
          {state.paused
            ? ` · paused: ${state.missedWhilePaused} new ${state.missedWhilePaused === 1 ? 'request' : 'requests'} not shown`
            : state.missedWhilePaused > 0
              ? ` · ${state.missedWhilePaused} skipped during the last pause`
              : ''}
        </p>
      </div>
      {state.rows.length === 0 ? (
        <p class="panel muted">
          {state.phase === 'idle'
            ? 'Pick a service or workload and start a tap.'
            : running
              ? 'Waiting for requests…'
              : 'No requests were seen.'}
        </p>
      ) : (
        <TapTable rows={shown} />
      )}
    </>
  );
}

const PHASE_TEXT: Record<TapState['phase'], string> = {
  idle: 'not started',
  connecting: 'connecting…',
  streaming: 'streaming',
  ended: 'ended by the control plane',
  stopped: 'stopped',
  failed: 'failed',
};

function TapStatus(props: { state: TapState }) {
  const s = props.state;
  const started = s.started;
  const tone =
    s.phase === 'streaming' ? 'good' : s.phase === 'failed' ? 'bad' : s.phase === 'connecting' ? 'warn' : '';
  return (
    <div class="panel tap-status" role="status" aria-live="polite">
      <span class={`badge${tone === '' ? '' : ` badge-${tone}`}`}>{PHASE_TEXT[s.phase]}</span>
      {started !== undefined && (
        <span>
          {started.target.kind}/{started.target.namespace}/{started.target.name} ({started.direction}){' '}
          {started.proxies === 0
            ? '· no proxy of it is connected yet, waiting for one'
            : `· ${started.proxies} ${started.proxies === 1 ? 'proxy' : 'proxies'}`}
        </span>
      )}
      {s.heartbeat !== undefined && (
        <span class="muted">
          heartbeat {relative(new Date(s.heartbeat.at).toISOString())} ({s.heartbeat.proxies}{' '}
          {s.heartbeat.proxies === 1 ? 'proxy' : 'proxies'})
        </span>
      )}
      <span>{s.seen} requests seen</span>
      <span class={s.dropped.requests + s.dropped.events > 0 ? 'health-text-warn' : 'muted'}>
        dropped: {s.dropped.requests} requests past the rate cap, {s.dropped.events} events (control plane
        limit or slow reader)
      </span>
    </div>
  );
}
