// Live mesh events for the dashboard, as Server-Sent Events (reader tokens may GET):
//   GET /api/v1/events?interval=5s      interval 1s..60s (default 5s); 400 TRELLIS_BAD_REQUEST else
// → 200 text/event-stream: `event: mesh` with a MeshEvent as its data at once, then every interval,
// and within ~100 ms of a config change (a new store revision in the view). A `: keep-alive`
// comment goes out after 15 s without anything else. The stream ends when the client goes away or
// the control plane closes (ApiContext.shutdown): its timers and view listener go with it, and none
// of them keeps the process alive. With several control-plane replicas, the stats are those of the
// proxies connected to the replica that answers.
import type http from 'node:http';
import { parseGoDuration } from '../dialects/common/duration.ts';
import type { ApiContext, ApiRoute } from './api.ts';
import { StreamedResponse } from './api-stream.ts';
import { ApiError } from './errors.ts';
import type { PushServer } from './push-server.ts';
import { edgeItems, resourceStats, statsView, type EdgeItem, type StatItem } from './stats/api-stats.ts';

/** The data of one `event: mesh`. */
export interface MeshEvent {
  /** The store revision of the config in force. */
  revision: number;
  timestamp: string;
  /** The stats window: always 1m. */
  window: string;
  /** Proxies connected to this replica. */
  proxies: number;
  /** As GET /api/v1/stats/services?window=1m. */
  services: StatItem[];
  /** As GET /api/v1/stats/deployments?window=1m. */
  deployments: StatItem[];
  /** As GET /api/v1/stats/edges?kind=services&window=1m. */
  edges: EdgeItem[];
}

export interface EventStreamOptions {
  intervalMs: number;
  /** A comment after this long without a write (proxies cut idle connections). */
  keepAliveMs: number;
  /** How long after a config change the event goes out (a burst of changes makes one event). */
  changeDelayMs: number;
}

export const DEFAULT_EVENT_INTERVAL = '5s';
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 60_000;
const KEEP_ALIVE_MS = 15_000;
const CHANGE_DELAY_MS = 100;
/** Unsent bytes past which an event is skipped: a client that does not read gets no backlog. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** Streams asking within this long of each other, at one revision, share one computed event. */
const SHARE_MS = 500;

export function intervalParam(q: URLSearchParams): number {
  const given = q.get('interval') || DEFAULT_EVENT_INTERVAL;
  const ms = parseGoDuration(given);
  if (ms === undefined || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS)
    throw new ApiError(
      'TRELLIS_BAD_REQUEST',
      400,
      `interval "${given}" must be a duration from 1s to 60s (e.g. 2s, 5s, 30s)`,
    );
  return ms;
}

const lastEvents = new WeakMap<PushServer, { at: number; event: MeshEvent }>();

/** The mesh as one event: the 1-minute stats of services, deployments and the edges between services. */
export function meshEvent(ctx: ApiContext): MeshEvent {
  const now = Date.now();
  const last = lastEvents.get(ctx.push);
  if (last !== undefined && now - last.at < SHARE_MS && last.event.revision === ctx.view.revision)
    return last.event;
  const v = statsView(ctx, new URLSearchParams());
  const sorted = (items: Map<string, StatItem>): StatItem[] =>
    [...items.values()].sort(
      (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
    );
  const event: MeshEvent = {
    revision: ctx.view.revision,
    timestamp: v.timestamp,
    window: v.window,
    proxies: ctx.push.status().length,
    services: sorted(resourceStats(v, 'services')),
    deployments: sorted(resourceStats(v, 'deployments')),
    edges: edgeItems(v, 'services'),
  };
  lastEvents.set(ctx.push, { at: now, event });
  return event;
}

/** Streams events to `res` until the client leaves or the control plane closes. */
export function streamEvents(ctx: ApiContext, res: http.ServerResponse, opts: EventStreamOptions): void {
  // The caller may have left while the request was being checked: its 'close' has come and gone.
  if (res.destroyed || res.socket === null || res.socket.destroyed || ctx.shutdown?.aborted === true)
    return void res.destroy();
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    'x-content-type-options': 'nosniff',
  });
  let stopped = false;
  let sentRevision = -1;
  let changed: NodeJS.Timeout | undefined;
  const write = (text: string): void => {
    if (stopped || res.writableEnded || res.destroyed) return;
    res.write(text);
    keepAlive.refresh();
  };
  const send = (): void => {
    clearTimeout(changed);
    changed = undefined;
    tick.refresh(); // the next periodic event is a whole interval after this one
    if (res.writableLength > MAX_BACKLOG_BYTES) return;
    let text: string;
    try {
      const event = meshEvent(ctx);
      sentRevision = event.revision;
      text = `event: mesh\ndata: ${JSON.stringify(event)}\n\n`;
    } catch (err) {
      // A timer's callback must not throw: say it on the stream and keep going.
      text = `event: error\ndata: ${JSON.stringify({ message: err instanceof Error ? err.message : String(err) })}\n\n`;
    }
    write(text);
  };
  const tick = setInterval(send, opts.intervalMs).unref();
  const keepAlive = setInterval(() => write(': keep-alive\n\n'), opts.keepAliveMs).unref();
  const unlisten = ctx.view.onChange((revision) => {
    if (revision !== sentRevision && changed === undefined)
      changed = setTimeout(send, opts.changeDelayMs).unref();
  });
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(tick);
    clearInterval(keepAlive);
    clearTimeout(changed);
    unlisten();
    ctx.shutdown?.removeEventListener('abort', stop);
    if (!res.writableEnded) res.end();
  };
  res.on('close', stop);
  ctx.shutdown?.addEventListener('abort', stop, { once: true });
  send();
}

export const eventRoutes: ApiRoute[] = [
  [
    'GET',
    /^\/api\/v1\/events$/,
    async (ctx, _r, _p, q) => {
      const intervalMs = intervalParam(q);
      return new StreamedResponse((res) =>
        streamEvents(ctx, res, { intervalMs, keepAliveMs: KEEP_ALIVE_MS, changeDelayMs: CHANGE_DELAY_MS }),
      );
    },
  ],
];
