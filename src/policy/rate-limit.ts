// Local rate limiting per route (Envoy's local_ratelimit): a token bucket for the route, or one
// per key (a header's value, the caller's address, the caller's identity). Over the limit the
// proxy answers 429 itself (gRPC: UNAVAILABLE, as Envoy maps 429) with `retry-after` and the
// x-ratelimit-* headers, and the upstream never sees the request. The buckets belong to the
// compiled config, per process: a reload starts them full, and each worker limits on its own.
import { createHash } from 'node:crypto';
import { RateLimitedError } from '../errors.ts';
import type { RateLimitPolicy } from '../model/policy.ts';
import type { RequestLayerFactory } from '../proxy/route-runtime.ts';
import type { Cancel, Dispatch, HeaderList, Layer, ProxyRequest } from '../proxy/types.ts';
import { replyError } from './local-reply.ts';
import { TokenBuckets } from './token-bucket.ts';

const noop: Cancel = () => {};

/** Keyed buckets kept per route; the least recently used go first. */
export const MAX_KEYED_BUCKETS = 10_000;

type KeyOf = (req: ProxyRequest) => string | null;

/** Keys longer than this are kept as their digest: 10k buckets of 60 KiB header values would not be. */
const MAX_KEY_CHARS = 128;

function boundedKey(key: string | null): string | null {
  if (key === null || key.length <= MAX_KEY_CHARS) return key;
  return createHash('sha256').update(key).digest('base64');
}

function firstHeader(headers: HeaderList, name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1]!;
  return null;
}

/** How a request picks its bucket; null: the route's one unkeyed bucket. */
function keyFunction(key: RateLimitPolicy['key']): KeyOf | null {
  if (key === undefined) return null;
  const header = key.header?.toLowerCase();
  // `identity`: the caller's SPIFFE ID on mTLS, else (plaintext) its address.
  if (key.identity === true && header === undefined)
    return (req) => req.source.identity ?? req.source.address;
  const bySource = key.sourceIp === true || key.identity === true;
  if (header !== undefined && bySource) {
    return (req) => {
      const v = firstHeader(req.headers, header);
      return v === null ? req.source.address : `${req.source.address}\u0000${v}`;
    };
  }
  // A request without the header shares the unkeyed bucket.
  if (header !== undefined) return (req) => firstHeader(req.headers, header);
  if (bySource) return (req) => req.source.address;
  return null;
}

export const rateLimitLayer: RequestLayerFactory = (route, env) => {
  const policy = route.config.rateLimit;
  if (policy === undefined) return undefined;
  const now = (): number => performance.now();
  const buckets = new TokenBuckets(
    {
      maxTokens: policy.maxTokens,
      tokensPerFill: policy.tokensPerFill,
      fillIntervalMs: Math.max(1, policy.fillInterval),
    },
    now(),
    MAX_KEYED_BUCKETS,
  );
  const keyOf = keyFunction(policy.key);
  const limited = env.stats.policy.rateLimited.series({ direction: env.direction, route: route.name });
  const limit = String(policy.maxTokens);
  const err = RateLimitedError(route.name);
  const layer: Layer = (next: Dispatch): Dispatch => {
    return (req, body, handler) => {
      const t = now();
      const bucket = buckets.bucket(keyOf === null ? null : boundedKey(keyOf(req)), t);
      if (bucket.tokens >= 1) {
        bucket.tokens--;
        return next(req, body, handler);
      }
      limited.value++;
      const resetSeconds = String(Math.max(1, Math.ceil(buckets.msUntilFill(bucket, t) / 1000)));
      replyError(req, handler, err, [
        'retry-after',
        resetSeconds,
        'x-ratelimit-limit',
        limit,
        'x-ratelimit-remaining',
        '0',
        'x-ratelimit-reset',
        resetSeconds,
      ]);
      return noop;
    };
  };
  return layer;
};
