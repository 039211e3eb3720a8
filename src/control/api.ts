// The control plane's REST API (JSON). Resources are applied as YAML text so the diagnostics
// point at the user's file, line and column; nothing invalid is ever stored.
//   GET    /api/v1/health
//   POST   /api/v1/apply?file=NAME[&dryRun=1]  body: YAML/JSON (one or many documents)
//   POST   /api/v1/delete?file=NAME       body: YAML/JSON; deletes what it names
//   GET    /api/v1/resources/KIND[?namespace=NS]
//   GET    /api/v1/resources/KIND/NS/NAME
//   DELETE /api/v1/resources/KIND/NS/NAME
//   GET    /api/v1/proxies                 what `trellis proxy-status` shows
//   GET    /api/v1/proxies/ID/config       the config a proxy has in force (api-proxy-config.ts)
//   GET    /api/v1/services/NS/NAME        what `trellis describe service` shows, with the security
//                                          policies and the callers' ejections (describe.ts)
//   GET    /api/v1/virtual-ips[?namespace=NS]  service virtual IPs (api-virtual-ips.ts)
//   GET    /api/v1/history                 config changes, newest last (`trellis history`)
//   GET    /api/v1/history/REV             one change with the before/after of each resource
//   GET    /api/v1/diff?from=REV[&to=REV]  unified diffs between two revisions (default to: now)
//   POST   /api/v1/rollback?to=REV         restore the config as it was right after REV
//   POST   /api/v1/tokens                  body JSON {namespace, serviceAccount, ttl?, description?}
//   GET    /api/v1/tokens                  join-token records (never their secrets)
//   DELETE /api/v1/tokens/ID               revoke a join token
//   GET    /api/v1/ca, POST /api/v1/ca/rotate|finish-rotation, GET /api/v1/identities/NS/WORKLOAD,
//   GET    /api/v1/check, POST /api/v1/authz/explain    security tools (api-identity.ts)
//   GET    /api/v1/stats/…, /apis/metrics.smi-spec.io/v1alpha1/…   golden metrics (stats/api-stats.ts, stats/smi.ts)
//   GET    /api/v1/stats/series?kind=K&namespace=NS&name=N&window=15m  per-bucket points (stats/api-series.ts)
//   POST   /api/v1/tap                     live requests of a service or workload, NDJSON (admin; tap/api-tap.ts)
//   GET    /api/v1/events?interval=5s      live MeshEvents as Server-Sent Events (api-events.ts)
//   GET    /api/v1/warnings                what apply would warn about the config in force (api-warnings.ts)
//   GET    /api/v1/security/edges          which policies allow which service edges (api-security-edges.ts)
// Every route needs `Authorization: Bearer TOKEN` (api-auth.ts): the reader token may GET, the admin
// token may do anything; join tokens are admin-only. /health is open but says only {status} then.
// Writes take their author from the x-trellis-author header (the CLI sends user@host).
import type http from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, formatDiagnostic, TrellisError, type Diagnostic } from '../errors.ts';
import { allKinds, resourceKey, type AnyKind, type AnyResource } from '../resources/kinds.ts';
import { parseResources, validateResourceSet } from '../resources/parse.ts';
import type { JoinTokens } from '../identity/join-tokens.ts';
import type { MeshIdentity } from './mesh-identity.ts';
import type { Store } from '../store/types.ts';
import {
  authorize,
  bearerToken,
  UnauthenticatedError,
  type Access,
  type ApiAuth,
  type ApiRole,
} from './api-auth.ts';
import { identityRoutes } from './api-identity.ts';
import { statsRoutes } from './stats/api-stats.ts';
import { seriesRoutes } from './stats/api-series.ts';
import { SMI_PREFIX, smiRoutes } from './stats/smi.ts';
import { proxyConfigRoutes } from './api-proxy-config.ts';
import { StreamedResponse } from './api-stream.ts';
import { tapRoutes } from './tap/api-tap.ts';
import { eventRoutes } from './api-events.ts';
import { warningRoutes } from './api-warnings.ts';
import { securityEdgeRoutes } from './api-security-edges.ts';
import { createJoinToken, listJoinTokens, revokeJoinToken } from './api-join-tokens.ts';
import { describeService, describeSources } from './describe.ts';
import { virtualIpRoutes } from './api-virtual-ips.ts';
import type { VirtualIps } from './vip/allocator.ts';
import { diffRevisions, listHistory, rollback, writeRecorded } from './history.ts';
import {
  ApiError,
  BodyTooLargeError,
  MalformedRequestError,
  NotFoundError,
  UnknownKindError,
} from './errors.ts';
import { RESOURCE_PREFIX, type MeshView } from './mesh-view.ts';
import type { PushServer } from './push-server.ts';

export interface ApiContext {
  store: Store;
  view: MeshView;
  push: PushServer;
  /** Undefined: no authentication (tests and benchmarks of other things only). */
  auth: ApiAuth | undefined;
  joinTokens: JoinTokens;
  /** The CA and workload identity; undefined when the mesh runs without mTLS. */
  identity: MeshIdentity | undefined;
  /** Service virtual IPs (vip/); undefined when the control plane allocates none. */
  vips?: VirtualIps | undefined;
  /** Aborted as the control plane starts to close: streamed answers (api-events.ts) end cleanly. */
  shutdown?: AbortSignal | undefined;
}

const MAX_BODY = 8 * 1024 * 1024;

type Params = Record<string, string>;
export type ApiHandler = (
  ctx: ApiContext,
  req: http.IncomingMessage,
  params: Params,
  query: URLSearchParams,
  /** The caller's role; undefined only on open routes, for a caller without a valid token. */
  role: ApiRole | undefined,
) => Promise<unknown>;
/** One route of the API; feature modules export lists of them (statsRoutes, tapRoutes, …). */
export type ApiRoute = [method: string, pattern: RegExp, handler: ApiHandler, access?: Access];

const routes: ApiRoute[] = [
  [
    'GET',
    /^\/api\/v1\/health$/,
    // Load balancers probe without a token: they learn that it lives, nothing about the config.
    async (ctx, _req, _p, _q, role) =>
      role === undefined
        ? { status: 'ok' }
        : { status: 'ok', store: ctx.store.kind, revision: ctx.view.revision, role },
    'open',
  ],
  ['POST', /^\/api\/v1\/apply$/, apply],
  ['POST', /^\/api\/v1\/delete$/, deleteFromText],
  ['GET', /^\/api\/v1\/resources\/(?<kind>[^/]+)$/, list],
  ['GET', /^\/api\/v1\/resources\/(?<kind>[^/]+)\/(?<ns>[^/]+)\/(?<name>[^/]+)$/, getOne],
  ['DELETE', /^\/api\/v1\/resources\/(?<kind>[^/]+)\/(?<ns>[^/]+)\/(?<name>[^/]+)$/, deleteOne],
  ['GET', /^\/api\/v1\/proxies$/, async (ctx) => ({ items: ctx.push.status() })],
  [
    'GET',
    /^\/api\/v1\/history$/,
    async (ctx) => ({
      items: (await listHistory(ctx.store)).map((e) => ({
        ...e,
        changes: e.changes.map((c) => ({
          key: c.key,
          change: c.before === null ? 'created' : c.after === null ? 'deleted' : 'configured',
        })),
      })),
    }),
  ],
  [
    'GET',
    /^\/api\/v1\/history\/(?<rev>\d+)$/,
    async (ctx, _req, p) => {
      const entry = (await listHistory(ctx.store)).find((e) => e.revision === Number(p.rev));
      if (entry === undefined) throw NotFoundError(`revision ${p.rev} in the history`);
      return entry;
    },
  ],
  [
    'GET',
    /^\/api\/v1\/diff$/,
    async (ctx, _req, _p, q) => ({
      diffs: await diffRevisions(
        ctx.store,
        revisionParam(q.get('from'), 'from'),
        optionalRevision(q.get('to')),
      ),
    }),
  ],
  [
    'POST',
    /^\/api\/v1\/rollback$/,
    async (ctx, req, _p, q) => {
      const entry = await rollback(ctx.store, revisionParam(q.get('to'), 'to'), authorOf(req));
      if (entry !== undefined) await ctx.view.settled(() => ctx.view.revision >= entry.lastRevision);
      return { entry: entry ?? null };
    },
  ],
  [
    'GET',
    /^\/api\/v1\/services\/(?<ns>[^/]+)\/(?<name>[^/]+)$/,
    async (ctx, _req, p) => {
      const d = describeService(ctx.view.state(), p.ns ?? '', p.name ?? '', ctx.vips, describeSources(ctx));
      if (d === undefined) throw NotFoundError(`service ${p.name}.${p.ns}`);
      return { ...d, proxies: ctx.push.status().filter((s) => s.namespace === p.ns) };
    },
  ],
  [
    'POST',
    /^\/api\/v1\/tokens$/,
    async (ctx, req) => createJoinToken(ctx.joinTokens, await readBody(req), authorOf(req), ctx.auth?.log),
    'admin',
  ],
  ['GET', /^\/api\/v1\/tokens$/, async (ctx) => listJoinTokens(ctx.joinTokens), 'admin'],
  [
    'DELETE',
    /^\/api\/v1\/tokens\/(?<id>[^/]+)$/,
    async (ctx, req, p) => revokeJoinToken(ctx.joinTokens, p.id ?? '', authorOf(req), ctx.auth?.log),
    'admin',
  ],
  ...identityRoutes,
  ...seriesRoutes, // before statsRoutes, whose /stats/KIND would take "series" for a kind
  ...statsRoutes,
  ...smiRoutes,
  ...proxyConfigRoutes,
  ...tapRoutes,
  ...eventRoutes,
  ...warningRoutes,
  ...securityEdgeRoutes,
  ...virtualIpRoutes,
];

/** Answers an /api/ request; returns false for any other path. */
export async function handleApi(
  ctx: ApiContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://control');
  if (!url.pathname.startsWith('/api/') && !url.pathname.startsWith(SMI_PREFIX)) return false;
  let role: ApiRole | undefined;
  try {
    role = ctx.auth === undefined ? 'admin' : await ctx.auth.roleOf(bearerToken(req));
  } catch (err) {
    sendError(res, err);
    return true;
  }
  const token = req.headers.authorization !== undefined;
  let matchedPath = false;
  for (const [method, pattern, handler, access = 'byMethod'] of routes) {
    const m = pattern.exec(url.pathname);
    if (m === null) continue;
    matchedPath = true;
    if (method !== req.method) continue;
    try {
      if (access !== 'open') authorize(role, token, access, method, url.pathname);
      const params = decodeParams(m.groups ?? {});
      const result = await handler(ctx, req, params, url.searchParams, role);
      if (result instanceof StreamedResponse) result.start(res);
      else sendJson(res, 200, result);
    } catch (err) {
      sendError(res, err);
    }
    return true;
  }
  // Unknown paths too: without a token, nothing about the API's shape is answered.
  if (role === undefined) sendError(res, UnauthenticatedError(token));
  else
    sendError(
      res,
      matchedPath
        ? new ApiError('TRELLIS_METHOD_NOT_ALLOWED', 405, `${req.method} not allowed on ${url.pathname}`)
        : NotFoundError(`API path ${url.pathname}`),
    );
  return true;
}

function decodeParams(groups: Record<string, string>): Params {
  try {
    return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, decodeURIComponent(v)]));
  } catch {
    // A stray or truncated %-escape is the client's mistake, not an internal error.
    throw MalformedRequestError('invalid %-escape in the path');
  }
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw BodyTooLargeError(MAX_BODY);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function kindParam(p: Params): AnyKind {
  const kind = allKinds().find((k) => k.toLowerCase() === (p.kind ?? '').toLowerCase());
  if (kind === undefined) throw UnknownKindError(p.kind ?? '');
  return kind;
}

async function apply(
  ctx: ApiContext,
  req: http.IncomingMessage,
  _p: Params,
  q: URLSearchParams,
): Promise<unknown> {
  const unknownFields: Diagnostic[] = [];
  const resources = parseResources(await readBody(req), q.get('file') ?? 'stdin', {
    warnings: unknownFields,
  });
  const dryRun = q.get('dryRun') === '1';
  const results = [];
  const writes: { key: string; after: unknown }[] = [];
  for (const r of resources) {
    const key = resourceKey(r);
    const before = await ctx.store.get(key);
    let action: 'created' | 'configured' | 'unchanged' = before === undefined ? 'created' : 'configured';
    if (before !== undefined && isDeepStrictEqual(before.value, r)) action = 'unchanged';
    else writes.push({ key, after: r });
    results.push({ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, action });
  }
  if (!dryRun && writes.length > 0) {
    const meta = { author: authorOf(req), action: 'apply' as const, source: q.get('file') ?? 'stdin' };
    const entry = await writeRecorded(ctx.store, meta, writes);
    // The view watches resources only: wait for the last resource write, not the history entry.
    const written = entry?.lastRevision ?? 0;
    await ctx.view.settled(() => ctx.view.revision >= written);
  }
  const merged = new Map<string, AnyResource>(
    [...ctx.view.all(), ...ctx.view.dialectResources()].map((r) => [resourceKey(r), r]),
  );
  for (const r of resources) merged.set(resourceKey(r), r);
  // Unknown fields of other meshes' kinds were dropped: said with their file:line:column.
  const dropped = unknownFields.map((d) => ({ resource: '', path: d.path, message: formatDiagnostic(d) }));
  return { results, warnings: [...dropped, ...validateResourceSet([...merged.values()])] };
}

async function deleteFromText(
  ctx: ApiContext,
  req: http.IncomingMessage,
  _p: Params,
  q: URLSearchParams,
): Promise<unknown> {
  const resources = parseResources(await readBody(req), q.get('file') ?? 'stdin');
  const entry = await writeRecorded(
    ctx.store,
    { author: authorOf(req), action: 'delete', source: q.get('file') ?? 'stdin' },
    resources.map((r) => ({ key: resourceKey(r), after: null })),
  );
  const gone = new Set((entry?.changes ?? []).map((c) => c.key));
  const results = resources.map((r) => ({
    kind: r.kind,
    namespace: r.metadata.namespace,
    name: r.metadata.name,
    action: gone.has(resourceKey(r)) ? 'deleted' : 'not found',
  }));
  await ctx.view.settled(() => [...gone].every((key) => ctx.view.get(key) === undefined));
  return { results };
}

/** Who made a change: the CLI sends user@host; anything else is named by its address. */
function authorOf(req: http.IncomingMessage): string {
  const h = req.headers['x-trellis-author'];
  const given = typeof h === 'string' ? h.slice(0, 200).replace(/[^\x20-\x7e]/g, '') : '';
  return given !== '' ? given : `unknown (${req.socket.remoteAddress ?? '?'})`;
}

function revisionParam(value: string | null, name: string): number {
  const n = Number(value);
  if (value === null || !Number.isInteger(n) || n < 0) {
    throw new ApiError('TRELLIS_BAD_REQUEST', 400, `${name} must be a revision number (see trellis history)`);
  }
  return n;
}

function optionalRevision(value: string | null): number | undefined {
  return value === null || value === '' ? undefined : revisionParam(value, 'to');
}

async function list(
  ctx: ApiContext,
  _req: http.IncomingMessage,
  p: Params,
  q: URLSearchParams,
): Promise<unknown> {
  const kind = kindParam(p);
  const ns = q.get('namespace');
  const prefix = `${RESOURCE_PREFIX}${kind}/${ns !== null && ns !== '' ? `${ns}/` : ''}`;
  const items: AnyResource[] = [...ctx.view.all(), ...ctx.view.dialectResources()]
    .filter((r) => resourceKey(r).startsWith(prefix))
    .sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));
  return { kind, items };
}

async function getOne(ctx: ApiContext, _req: http.IncomingMessage, p: Params): Promise<unknown> {
  const kind = kindParam(p);
  const entry = await ctx.store.get(`${RESOURCE_PREFIX}${kind}/${p.ns}/${p.name}`);
  if (entry === undefined) throw NotFoundError(`${kind} ${p.ns}/${p.name}`);
  return entry.value;
}

async function deleteOne(ctx: ApiContext, req: http.IncomingMessage, p: Params): Promise<unknown> {
  const kind = kindParam(p);
  const key = `${RESOURCE_PREFIX}${kind}/${p.ns}/${p.name}`;
  const meta = { author: authorOf(req), action: 'delete' as const, source: `${kind} ${p.ns}/${p.name}` };
  const entry = await writeRecorded(ctx.store, meta, [{ key, after: null }]);
  if (entry === undefined) throw NotFoundError(`${kind} ${p.ns}/${p.name}`);
  await ctx.view.settled(() => ctx.view.get(key) === undefined);
  return { results: [{ kind, namespace: p.ns, name: p.name, action: 'deleted' }] };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  if (err instanceof ConfigError) {
    sendJson(res, 422, { error: { code: err.code, message: err.message, diagnostics: err.diagnostics } });
  } else if (err instanceof ApiError) {
    if (err.status === 401) res.setHeader('www-authenticate', 'Bearer realm="trellis"');
    sendJson(res, err.status, { error: { code: err.code, message: err.message, details: err.details } });
  } else if (err instanceof TrellisError) {
    sendJson(res, 503, { error: { code: err.code, message: err.message } });
  } else {
    sendJson(res, 500, {
      error: { code: 'TRELLIS_INTERNAL', message: err instanceof Error ? err.message : String(err) },
    });
  }
}
