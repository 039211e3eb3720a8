// The dashboard's frame: sign-in with an API token, then a header with the views and the live link
// state, and the view the address names.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, setUnauthenticatedHandler } from './api.ts';
import { forgetToken, storedToken, storeToken } from './auth.ts';
import { ErrorNote } from './components/golden.tsx';
import { MeshProvider, useMesh } from './mesh.tsx';
import { href, useRoute, type Route } from './router.ts';
import type { Role } from './types.ts';
import { CanaryView } from './views/canary.tsx';
import { ConfigView } from './views/config.tsx';
import { SecurityView } from './views/security.tsx';
import { ServiceView } from './views/service.tsx';
import { TapView } from './views/tap.tsx';
import { TopologyView } from './views/topology.tsx';

interface Health {
  status: string;
  revision?: number;
  role?: Role;
}

export function App() {
  const [role, setRole] = useState<Role | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [checking, setChecking] = useState(storedToken() !== undefined);

  const check = (): void => {
    setChecking(true);
    getJson<Health>('/api/v1/health').then(
      (h) => {
        setChecking(false);
        if (h.role === undefined) {
          forgetToken();
          setError(
            new ApiError('TRELLIS_UNAUTHENTICATED', 401, 'the control plane did not accept this token'),
          );
        } else setRole(h.role);
      },
      (err: unknown) => {
        setChecking(false);
        setError(err instanceof ApiError ? err : undefined);
      },
    );
  };
  useEffect(() => {
    setUnauthenticatedHandler(() => {
      forgetToken();
      setRole(undefined);
      setError(
        new ApiError(
          'TRELLIS_UNAUTHENTICATED',
          401,
          'the token was refused (revoked, or a new control plane)',
        ),
      );
    });
    if (storedToken() !== undefined) check();
  }, []);

  if (checking) return <p class="centered">Connecting to the control plane…</p>;
  if (role === undefined)
    return (
      <SignIn
        error={error}
        onToken={(t) => {
          storeToken(t);
          check();
        }}
      />
    );
  return (
    <MeshProvider role={role}>
      <Shell
        role={role}
        onSignOut={() => {
          forgetToken();
          setRole(undefined);
          setError(undefined);
        }}
      />
    </MeshProvider>
  );
}

function SignIn(props: { error: ApiError | undefined; onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  return (
    <main class="signin">
      <h1>Trellis</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim() !== '') props.onToken(token);
        }}
      >
        <label for="token">API token</label>
        <p class="muted" id="token-help">
          The admin or reader token of this control plane: <code>.trellis/admin-token</code> or{' '}
          <code>.trellis/reader-token</code> in its directory. <code>trellis dashboard</code> signs you in.
        </p>
        <input
          id="token"
          type="password"
          autocomplete="off"
          aria-describedby="token-help"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit">Sign in</button>
      </form>
      <ErrorNote error={props.error} />
    </main>
  );
}

const NAV: { label: string; segment: string }[] = [
  { label: 'Topology', segment: '' },
  { label: 'Canary', segment: 'canary' },
  { label: 'Tap', segment: 'tap' },
  { label: 'Config', segment: 'config' },
  { label: 'Security', segment: 'security' },
];

function Shell(props: { role: Role; onSignOut: () => void }) {
  const route = useRoute();
  const { link, event } = useMesh();
  const current = route.segments[0] === 'services' ? '' : (route.segments[0] ?? '');
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Trellis
        </a>
        <nav aria-label="Views">
          {NAV.map((n) => (
            <a
              href={href(n.segment === '' ? [] : [n.segment])}
              aria-current={current === n.segment ? 'page' : undefined}
            >
              {n.label}
            </a>
          ))}
        </nav>
        <span class={`link link-${link}`} role="status" aria-live="polite">
          {link === 'live'
            ? `live · revision ${event?.revision ?? '-'} · ${event?.proxies ?? 0} proxies`
            : link}
        </span>
        <span class="badge" title="what this token may do">
          {props.role}
        </span>
        <button type="button" class="plain" onClick={props.onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <View route={route} />
      </main>
    </>
  );
}

function View(props: { route: Route }) {
  const [first, a, b] = props.route.segments;
  switch (first) {
    case undefined:
    case 'topology':
      return <TopologyView />;
    case 'services':
      return a !== undefined && b !== undefined ? <ServiceView namespace={a} name={b} /> : <TopologyView />;
    case 'canary':
      return <CanaryView />;
    case 'tap':
      return <TapView query={props.route.query} />;
    case 'config':
      return <ConfigView query={props.route.query} />;
    case 'security':
      return <SecurityView />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No view <code>{first}</code>. <a href="#/">Back to the topology</a>.
          </p>
        </section>
      );
  }
}
