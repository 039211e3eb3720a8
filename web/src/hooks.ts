// Data hooks: one GET (optionally refreshed), with loading and error states views can show.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, getJson } from './api.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** GETs `path` (none while undefined), again every `refreshMs` if given and on reload(). */
export function useApi<T>(path: string | undefined, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(path !== undefined);
  const [tick, setTick] = useState(0);
  const current = useRef(path);
  current.current = path;
  useEffect(() => {
    if (path === undefined) return;
    const abort = new AbortController();
    setLoading(true);
    getJson<T>(path, abort.signal).then(
      (d) => {
        if (current.current !== path) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError('TRELLIS_CLIENT', 0, String(err)));
        setLoading(false);
      },
    );
    const timer = refreshMs === undefined ? undefined : setTimeout(() => setTick((t) => t + 1), refreshMs);
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [path, tick, refreshMs]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
