// Token buckets for local rate limits (Envoy's local_ratelimit token_bucket): `maxTokens` to
// start with and at most, `tokensPerFill` added every `fillInterval`. Buckets refill lazily from
// the clock when they are asked, so an idle bucket costs no timer; fills stay on the bucket's own
// tick (creation + k × interval), as Envoy's timer-driven fills do.

export interface BucketShape {
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

export class TokenBucket {
  tokens: number;
  /** Time of the last fill tick (ms, the caller's clock). */
  filledAt: number;

  constructor(tokens: number, now: number) {
    this.tokens = tokens;
    this.filledAt = now;
  }
}

/**
 * One bucket per key, plus one for requests without a key. At most `maxKeys` keyed buckets are
 * kept; the least recently used goes first (a key seen again after that starts full, so a flood of
 * distinct keys can only loosen, never tighten, the limit of the others).
 */
export class TokenBuckets {
  readonly shape: BucketShape;
  private readonly maxKeys: number;
  private readonly unkeyed: TokenBucket;
  /** Insertion order is recency order: a hit is moved to the end. */
  private readonly keyed = new Map<string, TokenBucket>();

  constructor(shape: BucketShape, now: number, maxKeys = 10_000) {
    this.shape = shape;
    this.maxKeys = maxKeys;
    this.unkeyed = new TokenBucket(shape.maxTokens, now);
  }

  get size(): number {
    return this.keyed.size;
  }

  /** The bucket for `key` (null: the unkeyed one), refilled up to `now`. */
  bucket(key: string | null, now: number): TokenBucket {
    let b: TokenBucket | undefined;
    if (key === null) b = this.unkeyed;
    else {
      b = this.keyed.get(key);
      if (b !== undefined) {
        this.keyed.delete(key);
        this.keyed.set(key, b);
      } else {
        if (this.keyed.size >= this.maxKeys) {
          const oldest = this.keyed.keys().next();
          if (oldest.done !== true) this.keyed.delete(oldest.value);
        }
        b = new TokenBucket(this.shape.maxTokens, now);
        this.keyed.set(key, b);
        return b;
      }
    }
    this.refill(b, now);
    return b;
  }

  /** Takes one token; false when the bucket is empty. */
  take(key: string | null, now: number): boolean {
    const b = this.bucket(key, now);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  /** ms until the next fill of `b` adds tokens. */
  msUntilFill(b: TokenBucket, now: number): number {
    return Math.max(0, b.filledAt + this.shape.fillIntervalMs - now);
  }

  private refill(b: TokenBucket, now: number): void {
    const s = this.shape;
    const elapsed = now - b.filledAt;
    if (elapsed < s.fillIntervalMs) return;
    const fills = Math.floor(elapsed / s.fillIntervalMs);
    b.tokens = Math.min(s.maxTokens, b.tokens + fills * s.tokensPerFill);
    b.filledAt += fills * s.fillIntervalMs;
  }
}
