// The tap's stream: POST /api/v1/tap, its NDJSON lines read as they come, and each request's three
// events (req, rsp, end; `trellis tap` pairs them by id the same way) folded into one row. Lines are
// gathered in refs and shown at most every FLUSH_MS, so a busy tap costs a few renders a second.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, readLines, request } from '../../api.ts';
import type { TapEventLine, TapLine, TapRequestBody } from '../../types.ts';

export type ReqLine = Extract<TapEventLine, { type: 'req' }>;
export type RspLine = Extract<TapEventLine, { type: 'rsp' }>;
export type EndLine = Extract<TapEventLine, { type: 'end' }>;

/** One tapped request: its head, then its response head and its end as they arrive. */
export interface TapRow {
  id: string;
  req: ReqLine;
  rsp?: RspLine;
  end?: EndLine;
}

export type TapPhase = 'idle' | 'connecting' | 'streaming' | 'ended' | 'stopped' | 'failed';

export interface TapState {
  phase: TapPhase;
  /** Newest first, at most MAX_ROWS. */
  rows: TapRow[];
  started: Extract<TapLine, { type: 'started' }> | undefined;
  /** Time and proxy count of the last heartbeat. */
  heartbeat: { at: number; proxies: number } | undefined;
  /** Totals of the `dropped` notes: requests the proxies skipped (max rps), events the server dropped. */
  dropped: { requests: number; events: number };
  /** Requests seen in all, and those that arrived while paused (not shown). */
  seen: number;
  missedWhilePaused: number;
  paused: boolean;
  error: ApiError | undefined;
}

export const MAX_ROWS = 500;
const FLUSH_MS = 250;
const LINE_TYPES = new Set(['req', 'rsp', 'end', 'started', 'dropped', 'heartbeat']);

const initial: TapState = {
  phase: 'idle',
  rows: [],
  started: undefined,
  heartbeat: undefined,
  dropped: { requests: 0, events: 0 },
  seen: 0,
  missedWhilePaused: 0,
  paused: false,
  error: undefined,
};

/** A line as the server sent it, or undefined for one this dashboard does not know. */
export function parseTapLine(text: string): TapLine | undefined {
  if (text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || !('type' in json)) return undefined;
  return typeof json.type === 'string' && LINE_TYPES.has(json.type) ? (json as TapLine) : undefined;
}

export interface TapControls {
  state: TapState;
  start: (body: TapRequestBody) => void;
  stop: () => void;
  setPaused: (paused: boolean) => void;
  clear: () => void;
}

export function useTapStream(): TapControls {
  const [state, setState] = useState<TapState>(initial);
  // The truth, updated per line; `state` is its copy as of the last flush.
  const live = useRef<TapState>(initial);
  const rows = useRef(new Map<string, TapRow>());
  const order = useRef<string[]>([]);
  const abort = useRef<AbortController | undefined>(undefined);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const flush = useCallback((): void => {
    timer.current = undefined;
    const byId = rows.current;
    setState({
      ...live.current,
      rows: order.current.map((id) => byId.get(id)).filter((r) => r !== undefined),
    });
  }, []);
  const schedule = useCallback((): void => {
    timer.current ??= setTimeout(flush, FLUSH_MS);
  }, [flush]);
  const update = useCallback(
    (patch: Partial<TapState>, now = false): void => {
      live.current = { ...live.current, ...patch };
      if (now) {
        clearTimeout(timer.current);
        flush();
      } else schedule();
    },
    [flush, schedule],
  );

  const onLine = useCallback(
    (line: TapLine): void => {
      const s = live.current;
      switch (line.type) {
        case 'started':
          return update({ started: line, phase: 'streaming' }, true);
        case 'heartbeat':
          return update({ heartbeat: { at: Date.now(), proxies: line.proxies } });
        case 'dropped':
          return update({
            dropped: { requests: s.dropped.requests + line.requests, events: s.dropped.events + line.events },
          });
        case 'req': {
          if (s.paused) return update({ seen: s.seen + 1, missedWhilePaused: s.missedWhilePaused + 1 });
          rows.current.set(line.id, { id: line.id, req: line });
          order.current.unshift(line.id);
          for (const old of order.current.splice(MAX_ROWS)) rows.current.delete(old);
          return update({ seen: s.seen + 1 });
        }
        case 'rsp':
        case 'end': {
          // Responses of rows already shown still land while paused: the table does not move.
          const row = rows.current.get(line.id);
          if (row === undefined) return;
          rows.current.set(line.id, line.type === 'rsp' ? { ...row, rsp: line } : { ...row, end: line });
          return schedule();
        }
      }
    },
    [update, schedule],
  );

  const stop = useCallback((): void => {
    const a = abort.current;
    abort.current = undefined;
    if (a === undefined) return;
    a.abort();
    update({ phase: 'stopped' }, true);
  }, [update]);

  const start = useCallback(
    (body: TapRequestBody): void => {
      abort.current?.abort();
      const a = new AbortController();
      abort.current = a;
      rows.current.clear();
      order.current = [];
      update({ ...initial, paused: live.current.paused, phase: 'connecting' }, true);
      const run = async (): Promise<void> => {
        const res = await request('/api/v1/tap', {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          signal: a.signal,
        });
        await readLines(res, (text) => {
          if (a.signal.aborted) return;
          const line = parseTapLine(text);
          if (line !== undefined) onLine(line);
        });
      };
      run().then(
        () => {
          if (abort.current !== a) return;
          abort.current = undefined;
          update({ phase: 'ended' }, true);
        },
        (err: unknown) => {
          if (a.signal.aborted || abort.current !== a) return;
          abort.current = undefined;
          const error =
            err instanceof ApiError
              ? err
              : new ApiError('TRELLIS_TAP_INTERRUPTED', 0, `the tap stream broke: ${String(err)}`);
          update({ phase: 'failed', error }, true);
        },
      );
    },
    [onLine, update],
  );

  const setPaused = useCallback(
    (paused: boolean): void => update({ paused, ...(paused ? { missedWhilePaused: 0 } : {}) }, true),
    [update],
  );
  const clear = useCallback((): void => {
    rows.current.clear();
    order.current = [];
    update({ seen: 0, missedWhilePaused: 0, dropped: { requests: 0, events: 0 } }, true);
  }, [update]);

  // Leaving the view ends the tap on the server too (it stops when its caller goes away).
  useEffect(
    () => () => {
      abort.current?.abort();
      clearTimeout(timer.current);
    },
    [],
  );

  return { state, start, stop, setPaused, clear };
}
