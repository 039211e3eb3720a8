// Join tokens (universal mode): the secret a workload shows the control plane to be given its
// service account's identity. A token is bound to one namespace/service account; the store keeps
// only the SHA-256 of its secret, so a store dump does not hand out identities.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { StoreConflictError } from '../store/errors.ts';
import type { Store } from '../store/types.ts';
import {
  JoinTokenRequestInvalidError,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
} from './errors.ts';
import { spiffeId } from './spiffe.ts';

export const JOIN_TOKEN_PREFIX = 'identity/join-tokens/';
const TOKEN_TEXT = /^trellis-join\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export interface JoinTokenRecord {
  id: string;
  namespace: string;
  serviceAccount: string;
  createdAt: string;
  expiresAt?: string;
  revoked: boolean;
  description?: string;
}

const StoredToken = z.object({
  id: z.string(),
  namespace: z.string(),
  serviceAccount: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  revoked: z.boolean(),
  description: z.string().optional(),
  /** base64url SHA-256 of the secret. */
  secretHash: z.string(),
});
type StoredToken = z.infer<typeof StoredToken>;

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function publicRecord(s: StoredToken): JoinTokenRecord {
  const { secretHash: _secretHash, ...record } = s;
  return record;
}

export class JoinTokens {
  private readonly store: Store;
  private readonly now: () => number;

  /** `now` is for tests: the clock expiry is judged by. */
  constructor(store: Store, opts: { now?: () => number } = {}) {
    this.store = store;
    this.now = opts.now ?? Date.now;
  }

  /** The token text is returned once and never stored; only its record can be listed later. */
  async create(opts: {
    namespace: string;
    serviceAccount: string;
    ttlMs?: number;
    description?: string;
  }): Promise<{ token: string; record: JoinTokenRecord }> {
    try {
      // Same rules as the identity the token grants (any trust domain: only the parts matter here).
      spiffeId('cluster.local', opts.namespace, opts.serviceAccount);
    } catch (err) {
      throw JoinTokenRequestInvalidError((err as Error).message);
    }
    if (opts.ttlMs !== undefined && !(Number.isFinite(opts.ttlMs) && opts.ttlMs > 0))
      throw JoinTokenRequestInvalidError(`ttl ${opts.ttlMs} ms is not a positive number of ms`);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    const stored: StoredToken = {
      id,
      namespace: opts.namespace,
      serviceAccount: opts.serviceAccount,
      createdAt: new Date(now).toISOString(),
      ...(opts.ttlMs !== undefined ? { expiresAt: new Date(now + opts.ttlMs).toISOString() } : {}),
      revoked: false,
      ...(opts.description !== undefined ? { description: opts.description } : {}),
      secretHash: hashSecret(secret).toString('base64url'),
    };
    // ifRevision 0: a (vanishingly unlikely) id collision must not overwrite another token.
    await this.store.put(JOIN_TOKEN_PREFIX + id, stored, { ifRevision: 0 });
    return { token: `trellis-join.${id}.${secret}`, record: publicRecord(stored) };
  }

  async list(): Promise<JoinTokenRecord[]> {
    const { entries } = await this.store.list(JOIN_TOKEN_PREFIX);
    const out: JoinTokenRecord[] = [];
    for (const e of entries) {
      const parsed = StoredToken.safeParse(e.value);
      if (parsed.success) out.push(publicRecord(parsed.data));
    }
    return out;
  }

  /** False when no such token exists. Revoked tokens stay listed (who had access, and until when). */
  async revoke(id: string): Promise<boolean> {
    // Bounded retries against a concurrent write to the same record.
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.store.get(JOIN_TOKEN_PREFIX + id);
      if (entry === undefined) return false;
      const parsed = StoredToken.safeParse(entry.value);
      if (!parsed.success) return false;
      if (parsed.data.revoked) return true;
      try {
        await this.store.put(entry.key, { ...parsed.data, revoked: true }, { ifRevision: entry.revision });
        return true;
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
      }
    }
    throw TokenInvalidError(`token ${id} kept changing while revoking it; try again`);
  }

  /** Throws IdentityError TRELLIS_TOKEN_INVALID | TRELLIS_TOKEN_REVOKED | TRELLIS_TOKEN_EXPIRED. */
  async verify(token: string): Promise<JoinTokenRecord> {
    const m = TOKEN_TEXT.exec(token.trim());
    if (m === null) throw TokenInvalidError('it is not a trellis-join.<id>.<secret> token');
    const [, id, secret] = m as unknown as [string, string, string];
    const entry = await this.store.get(JOIN_TOKEN_PREFIX + id);
    const parsed = entry === undefined ? undefined : StoredToken.safeParse(entry.value);
    // Unknown id and wrong secret read the same: the answer must not reveal which ids exist.
    if (parsed === undefined || !parsed.success) throw TokenInvalidError('unknown token or wrong secret');
    const want = Buffer.from(parsed.data.secretHash, 'base64url');
    const got = hashSecret(secret);
    if (want.length !== got.length || !timingSafeEqual(want, got))
      throw TokenInvalidError('unknown token or wrong secret');
    // Revocation and expiry are told only to whoever holds the secret.
    if (parsed.data.revoked) throw TokenRevokedError(id);
    const expiresAt = parsed.data.expiresAt;
    if (expiresAt !== undefined && Date.parse(expiresAt) <= this.now())
      throw TokenExpiredError(id, expiresAt);
    return publicRecord(parsed.data);
  }
}
