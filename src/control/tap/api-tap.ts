// The API's live tap route (admin only: a tap shows requests, and on demand their headers and
// bodies):
//   POST /api/v1/tap   body JSON {target: {kind, namespace, name}, filter?, maxRps?, headers?,
//                      bodyBytes?, duration?} → 200 application/x-ndjson, one TapLine per line
// Bad input answers 400 TRELLIS_BAD_REQUEST, an unknown target (or --to service) 404, too many
// sessions 429 TRELLIS_TAP_LIMIT — all before the stream starts. With several control-plane
// replicas, a tap sees the proxies connected to the replica that answers it.
import type http from 'node:http';
import { z } from 'zod';
import { parseDuration } from '../../model/duration.ts';
import { DEFAULT_TAP_RPS, MAX_TAP_BODY_BYTES, MAX_TAP_RPS, TapFilter } from '../../tap/event.ts';
import type { ApiContext, ApiRoute } from '../api.ts';
import { StreamedResponse } from '../api-stream.ts';
import { ApiError, BodyTooLargeError, MalformedRequestError } from '../errors.ts';
import type { PushServer } from '../push-server.ts';
import { TapBroker, type TapRequest } from './broker.ts';
import { resolveDestination } from './target.ts';

const MAX_BODY = 16 * 1024;
/** Longest tap a caller may ask for; without a duration it runs until the caller goes away. */
const MAX_DURATION_MS = 24 * 3_600_000;

const NAME = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'a DNS-style name');

export const TapBody = z.strictObject({
  target: z.strictObject({
    kind: z.enum(['service', 'workload']),
    namespace: NAME.max(63).default('default'),
    name: NAME,
  }),
  filter: TapFilter.default({}),
  maxRps: z.number().int().min(1).max(MAX_TAP_RPS).default(DEFAULT_TAP_RPS),
  headers: z.boolean().default(false),
  bodyBytes: z.number().int().min(0).max(MAX_TAP_BODY_BYTES).default(0),
  /** "30s", "5m", … or milliseconds. */
  duration: z.union([z.string(), z.number()]).optional(),
});
export type TapBody = z.input<typeof TapBody>;

/** One broker per push server (its sessions follow that server's streams), made on first use. */
const brokers = new WeakMap<PushServer, TapBroker>();
function brokerOf(ctx: ApiContext): TapBroker {
  let b = brokers.get(ctx.push);
  if (b === undefined) {
    b = new TapBroker(ctx.view, ctx.push.streams);
    brokers.set(ctx.push, b);
  }
  return b;
}

const invalid = (why: string): ApiError =>
  new ApiError('TRELLIS_BAD_REQUEST', 400, `invalid tap request: ${why}`);

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw BodyTooLargeError(MAX_BODY);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw MalformedRequestError('the body must be JSON: {"target": {"kind", "namespace", "name"}, …}');
  }
}

function durationMs(d: string | number | undefined): number | undefined {
  if (d === undefined) return undefined;
  const ms = typeof d === 'number' ? d : parseDuration(d);
  if (ms === undefined || !Number.isFinite(ms) || ms < 100 || ms > MAX_DURATION_MS)
    throw invalid(`duration must be between 100ms and 24h ("30s", "5m" or ms), got ${JSON.stringify(d)}`);
  return Math.round(ms);
}

/** Checks and completes a request body: the direction follows from `to` unless given. */
export function tapRequest(ctx: ApiContext, json: unknown): TapRequest {
  const parsed = TapBody.safeParse(json);
  if (!parsed.success)
    throw invalid(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  const b = parsed.data;
  const { to, ...rest } = b.filter;
  const direction = b.filter.direction ?? (to !== undefined ? 'outbound' : 'inbound');
  if (to !== undefined && direction !== 'outbound')
    throw invalid('filter.to names a destination: it taps the outbound side (leave direction out)');
  const filter: TapRequest['filter'] = { ...rest, direction };
  if (to !== undefined) filter.to = resolveDestination(ctx.view, to, b.target.namespace);
  return {
    target: b.target,
    filter,
    maxRps: b.maxRps,
    headers: b.headers,
    bodyBytes: b.bodyBytes,
    durationMs: durationMs(b.duration),
  };
}

export const tapRoutes: ApiRoute[] = [
  [
    'POST',
    /^\/api\/v1\/tap$/,
    async (ctx, req) => {
      const request = tapRequest(ctx, await readJson(req));
      const broker = brokerOf(ctx);
      const session = broker.open(request);
      return new StreamedResponse((res) => broker.start(session, res));
    },
    'admin',
  ],
];
