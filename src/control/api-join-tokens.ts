// The API's join-token routes (admin only): a join token lets one sidecar join the mesh as a service
// account. The secret is answered once, at creation; listings show records only. Creations and
// revocations are logged (not recorded in the config history: they are not config).
import type { Logger } from 'pino';
import { z } from 'zod';
import { IdentityError } from '../identity/errors.ts';
import type { JoinTokenRecord, JoinTokens } from '../identity/join-tokens.ts';
import { parseDuration } from '../model/duration.ts';
import { ApiError, MalformedRequestError, NotFoundError } from './errors.ts';

const CreateBody = z.object({
  namespace: z.string().min(1).max(253),
  serviceAccount: z.string().min(1).max(253),
  /** "24h", "30m", ... or milliseconds. */
  ttl: z.union([z.string(), z.number()]).optional(),
  description: z.string().max(200).optional(),
});

function ttlMs(ttl: string | number | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  const ms = typeof ttl === 'number' ? ttl : parseDuration(ttl);
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new ApiError(
      'TRELLIS_BAD_REQUEST',
      400,
      `ttl must be a duration such as "24h", "30m", "90s" or a number of ms, got ${JSON.stringify(ttl)}`,
    );
  }
  return Math.round(ms);
}

function parseBody(text: string): z.infer<typeof CreateBody> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw MalformedRequestError(
      'the body must be JSON: {"namespace", "serviceAccount", "ttl"?, "description"?}',
    );
  }
  const parsed = CreateBody.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new ApiError('TRELLIS_BAD_REQUEST', 400, `invalid join token request: ${why}`);
  }
  return parsed.data;
}

/** POST /api/v1/tokens → { token, record }. */
export async function createJoinToken(
  tokens: JoinTokens,
  bodyText: string,
  author: string,
  log: Logger | undefined,
): Promise<{ token: string; record: JoinTokenRecord }> {
  const body = parseBody(bodyText);
  const ttl = ttlMs(body.ttl);
  let created: { token: string; record: JoinTokenRecord };
  try {
    created = await tokens.create({
      namespace: body.namespace,
      serviceAccount: body.serviceAccount,
      ...(ttl !== undefined ? { ttlMs: ttl } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
    });
  } catch (err) {
    // The request named something the identity layer refuses (a bad namespace, say): the caller's to fix.
    if (err instanceof IdentityError) throw new ApiError(err.code, 400, err.message);
    throw err;
  }
  const r = created.record;
  log?.info(
    { id: r.id, namespace: r.namespace, serviceAccount: r.serviceAccount, expiresAt: r.expiresAt, author },
    'join token created',
  );
  return created;
}

/** GET /api/v1/tokens → { items }: records, never secrets. */
export async function listJoinTokens(tokens: JoinTokens): Promise<{ items: JoinTokenRecord[] }> {
  return { items: await tokens.list() };
}

/** DELETE /api/v1/tokens/ID. */
export async function revokeJoinToken(
  tokens: JoinTokens,
  id: string,
  author: string,
  log: Logger | undefined,
): Promise<{ id: string; revoked: true }> {
  if (!(await tokens.revoke(id))) throw NotFoundError(`join token ${id}`);
  log?.info({ id, author }, 'join token revoked');
  return { id, revoked: true };
}
