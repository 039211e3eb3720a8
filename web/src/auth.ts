// The dashboard calls the API with the same bearer tokens as the CLI. `trellis dashboard` opens
// /dashboard/#token=…: a fragment never reaches the server, its logs or a Referer. The token is then
// kept in sessionStorage (this tab only) and the fragment removed from the address bar.
const KEY = 'trellis-token';

/** Takes a token from `#token=…` into sessionStorage; call once, before the router reads the hash. */
export function captureFragmentToken(): void {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (m?.[1] === undefined) return;
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
