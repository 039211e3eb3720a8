// Hash routes (#/services/default/reviews): the control plane serves one page, and a link can be
// shared or reloaded. Query parameters after the path (#/tap?target=…) carry a view's filters.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** Path segments, decoded: #/services/default/reviews → ['services', 'default', 'reviews']. */
  segments: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { segments, query: new URLSearchParams(query) };
}

export function href(segments: string[], query?: Record<string, string>): string {
  const q = query === undefined ? '' : new URLSearchParams(query).toString();
  return `#/${segments.map(encodeURIComponent).join('/')}${q === '' ? '' : `?${q}`}`;
}

export function navigate(to: string): void {
  location.hash = to.replace(/^#/, '');
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(parseHash(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}
