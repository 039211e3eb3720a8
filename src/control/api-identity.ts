// The API's security routes, what `trellis ca|identity|check|authz explain` show:
//   GET  /api/v1/ca                            trust domain, roots, signer, a rotation in progress
//   POST /api/v1/ca/rotate[?force=1]           a new root signs; old roots stay trusted (admin)
//   POST /api/v1/ca/finish-rotation[?force=1]  only the new root stays trusted (admin)
//   GET  /api/v1/identities/NS/WORKLOAD        the certificate chain the workload's proxy holds
//   GET  /api/v1/check                         health of the CA and of the proxies' certificates and clocks
//   POST /api/v1/authz/explain                 would this caller be allowed? (a query: readers too)
// What proxies hold is what this replica's push streams saw: with several replicas, each answers for
// the proxies connected to it.
import type { X509Certificate } from 'node:crypto';
import type http from 'node:http';
import { z } from 'zod';
import { CA_STORE_KEY } from '../identity/ca.ts';
import { IdentityError } from '../identity/errors.ts';
import { oneLine } from '../identity/pem.ts';
import { DEFAULT_TRUST_DOMAIN } from '../identity/spiffe.ts';
import type { ApiContext, ApiRoute } from './api.ts';
import { UnauthenticatedError } from './api-auth.ts';
import { explainRequest, ExplainBody } from './api-identity-explain.ts';
import {
  parseCertificates,
  pendingProxies,
  securityChecks,
  uriSans,
  type PendingProxy,
} from './api-identity-checks.ts';
import { ApiError, BodyTooLargeError, MalformedRequestError } from './errors.ts';
import type { MeshIdentity } from './mesh-identity.ts';

/** Renewals are asked for after the new trust bundle went out, so no peer meets a leaf it cannot verify. */
const RENEWAL_DELAY_MS = 1000;
const MAX_BODY = 64 * 1024;

export const CaDisabledError = (): ApiError =>
  new ApiError('TRELLIS_CA_DISABLED', 404, 'this control plane runs without a CA (no mTLS)');
export const CaFromFilesError = (operation: string): ApiError =>
  new ApiError(
    'TRELLIS_CA_EXTERNAL',
    409,
    `cannot ${operation}: the CA comes from your files (trellis up --ca-cert/--ca-key); rotate by ` +
      'replacing them (old and new roots in the root file), then restart the control plane',
  );
export const RotationInProgressError = (roots: number): ApiError =>
  new ApiError(
    'TRELLIS_ROTATION_IN_PROGRESS',
    409,
    `a root rotation is already in progress (${roots} roots trusted): finish it first ` +
      '(trellis ca finish-rotation), or start another with --force',
  );
export const RotationPendingError = (pending: PendingProxy[]): ApiError =>
  new ApiError(
    'TRELLIS_ROTATION_PENDING',
    409,
    `${pending.length} connected ${pending.length === 1 ? 'proxy still holds' : 'proxies still hold'} a ` +
      `certificate from an older root (${pending
        .slice(0, 5)
        .map((p) => `${p.namespace}/${p.workload}`)
        .join(', ')}${pending.length > 5 ? ', …' : ''}); proxies renew within seconds of a rotation: try ` +
      'again, or --force (their mTLS fails until they renew)',
    { pending },
  );

export interface CertificateView {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  uriSans: string[];
  isCa: boolean;
  fingerprint: string;
}

export interface CaView {
  trustDomain: string;
  managed: 'self' | 'files';
  signer: { subject: string; notAfter: string };
  /** The current root first (it signs; a self-managed CA has no intermediate). */
  roots: { subject: string; notBefore: string; notAfter: string; fingerprint: string; current: boolean }[];
  rotation: {
    inProgress: boolean;
    /** When the rotation started, as the store records it. */
    startedAt?: string;
    /** Connected proxies whose certificate does not chain to the current root. */
    pending: PendingProxy[];
  };
}

export interface IdentityView {
  workload: string;
  namespace: string;
  proxy: string;
  spiffeId: string;
  serial: string;
  issuedAt: string;
  notAfter: string;
  /** Leaf first. */
  chain: CertificateView[];
  chainPem: string;
}

export const identityRoutes: ApiRoute[] = [
  ['GET', /^\/api\/v1\/ca$/, async (ctx) => caView(ctx, requireCa(ctx))],
  ['POST', /^\/api\/v1\/ca\/rotate$/, async (ctx, _r, _p, q) => rotate(ctx, q.get('force') === '1'), 'admin'],
  [
    'POST',
    /^\/api\/v1\/ca\/finish-rotation$/,
    async (ctx, _r, _p, q) => finishRotation(ctx, q.get('force') === '1'),
    'admin',
  ],
  [
    'GET',
    /^\/api\/v1\/identities\/(?<ns>[^/]+)\/(?<workload>[^/]+)$/,
    async (ctx, _r, p) => identityOf(ctx, p.ns ?? '', p.workload ?? ''),
  ],
  ['GET', /^\/api\/v1\/check$/, async (ctx) => check(ctx)],
  [
    'POST',
    /^\/api\/v1\/authz\/explain$/,
    // A POST that writes nothing: readers may ask. 'open' skips the by-method rule; the token is checked here.
    async (ctx, req, _p, _q, role) => {
      if (role === undefined) throw UnauthenticatedError(req.headers.authorization !== undefined);
      const body = parseExplainBody(await readBody(req));
      return explainRequest(ctx.view, body, {
        trustDomain: ctx.identity?.trustDomain ?? DEFAULT_TRUST_DOMAIN,
        mtls: ctx.identity !== undefined,
      });
    },
    'open',
  ],
];

function requireCa(ctx: ApiContext): MeshIdentity {
  if (ctx.identity === undefined) throw CaDisabledError();
  return ctx.identity;
}

export function describeCertificate(c: X509Certificate): CertificateView {
  return {
    subject: oneLine(c.subject),
    issuer: oneLine(c.issuer),
    serial: c.serialNumber.toLowerCase(),
    notBefore: c.validFromDate.toISOString(),
    notAfter: c.validToDate.toISOString(),
    uriSans: uriSans(c),
    isCa: c.ca,
    fingerprint: c.fingerprint256,
  };
}

/** The rotation time the self-managed CA's record keeps (never any other field of it: it holds the key). */
async function rotatedAt(ctx: ApiContext): Promise<string | undefined> {
  const parsed = z
    .object({ rotatedAt: z.string().optional() })
    .safeParse((await ctx.store.get(CA_STORE_KEY))?.value);
  return parsed.success ? parsed.data.rotatedAt : undefined;
}

async function caView(ctx: ApiContext, id: MeshIdentity): Promise<CaView> {
  const info = id.ca.info();
  const roots = parseCertificates(id.ca.trustBundlePem());
  const current = roots[0];
  // A CA from files may trust several roots for good: only a self-managed one rotates.
  const inProgress = info.managed === 'self' && roots.length > 1;
  const startedAt = inProgress ? await rotatedAt(ctx) : undefined;
  return {
    trustDomain: info.trustDomain,
    managed: info.managed,
    signer: { subject: oneLine(info.signer.subject), notAfter: info.signer.notAfter.toISOString() },
    roots: roots.map((r, i) => ({
      subject: oneLine(r.subject),
      notBefore: r.validFromDate.toISOString(),
      notAfter: r.validToDate.toISOString(),
      fingerprint: r.fingerprint256,
      current: i === 0,
    })),
    rotation: {
      inProgress,
      ...(startedAt !== undefined ? { startedAt } : {}),
      pending: inProgress && current !== undefined ? pendingProxies(ctx.push.status(), current) : [],
    },
  };
}

/** The CA's own refusals (a lost race with another replica) as the API's. */
function asApiError(err: unknown): unknown {
  if (err instanceof IdentityError && err.code === 'TRELLIS_CA_CONFLICT')
    return new ApiError(err.code, 409, err.message);
  return err;
}

async function rotate(ctx: ApiContext, force: boolean): Promise<CaView> {
  const id = requireCa(ctx);
  if (!id.ca.selfManaged) throw CaFromFilesError('rotate the root');
  const roots = id.ca.info().roots.length;
  if (roots > 1 && !force) throw RotationInProgressError(roots);
  await id.ca.rotateRoot().catch((err: unknown) => Promise.reject(asApiError(err)));
  ctx.push.schedule(0);
  setTimeout(() => ctx.push.requestRenewals(), RENEWAL_DELAY_MS).unref();
  return caView(ctx, id);
}

async function finishRotation(ctx: ApiContext, force: boolean): Promise<CaView & { finished: boolean }> {
  const id = requireCa(ctx);
  if (!id.ca.selfManaged) throw CaFromFilesError('finish a root rotation');
  const roots = parseCertificates(id.ca.trustBundlePem());
  const current = roots[0];
  if (roots.length > 1 && current !== undefined && !force) {
    const pending = pendingProxies(ctx.push.status(), current);
    if (pending.length > 0) throw RotationPendingError(pending);
  }
  await id.ca.finishRotation().catch((err: unknown) => Promise.reject(asApiError(err)));
  ctx.push.schedule(0);
  return { ...(await caView(ctx, id)), finished: roots.length > 1 };
}

async function identityOf(ctx: ApiContext, namespace: string, workload: string): Promise<IdentityView> {
  const status = ctx.push.status().find((s) => s.namespace === namespace && s.workload === workload);
  if (status === undefined)
    throw new ApiError(
      'TRELLIS_NOT_FOUND',
      404,
      `no proxy of workload ${namespace}/${workload} is connected to this control plane (see trellis proxy-status)`,
    );
  const cert = status.certificate;
  if (cert === undefined)
    throw new ApiError(
      'TRELLIS_NOT_FOUND',
      404,
      ctx.identity === undefined
        ? 'this control plane runs without a CA: workloads have no certificates'
        : `the proxy of workload ${namespace}/${workload} holds no certificate yet`,
    );
  return {
    workload,
    namespace,
    proxy: status.id,
    spiffeId: cert.spiffeId,
    serial: cert.serial,
    issuedAt: cert.issuedAt,
    notAfter: cert.notAfter,
    chain: parseCertificates(cert.chain).map(describeCertificate),
    chainPem: cert.chain,
  };
}

async function check(ctx: ApiContext): Promise<{ time: string; checks: ReturnType<typeof securityChecks> }> {
  const id = ctx.identity;
  const serviceAccounts = new Map(
    ctx.view
      .state()
      .workloads.map((w) => [`${w.metadata.namespace}/${w.metadata.name}`, w.spec.serviceAccount]),
  );
  const checks = securityChecks({
    now: Date.now(),
    ca:
      id === undefined ? undefined : { info: id.ca.info(), roots: parseCertificates(id.ca.trustBundlePem()) },
    trustDomain: id?.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    proxies: ctx.push.status(),
    serviceAccounts,
  });
  // The CLI compares this with its own clock (and the round trip) for the control plane's clock check.
  return { time: new Date().toISOString(), checks };
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

function parseExplainBody(text: string): ExplainBody {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw MalformedRequestError(
      'the body must be JSON: {"from": {"serviceAccount", "namespace"?} | {"plaintext": true}, "to", ' +
        '"method"?, "path"?, "port"?, "headers"?}',
    );
  }
  const parsed = ExplainBody.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new ApiError('TRELLIS_BAD_REQUEST', 400, `invalid explain request: ${why}`);
  }
  return parsed.data;
}
