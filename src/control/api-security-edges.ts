// Which policies allow which edges of the service graph, for the dashboard (reader tokens may GET):
//   GET /api/v1/security/edges → { trustDomain, items: SecurityEdge[] }
// The pairs (caller service → callee service): every edge observed in the last 15 minutes (the
// stats edges between services) whose callee has workloads, and, in a mesh of at most 30 services
// with workloads, every other ordered pair of those. Each is explained as `trellis authz explain`
// does (api-identity-explain.ts): a GET / from each service account of the caller's workloads, or
// from a plaintext caller when the caller is unmeshed (`unknown`), against every callee workload.
// With several control-plane replicas, `observed` covers the proxies connected to the replica.
import { DEFAULT_TRUST_DOMAIN } from '../identity/spiffe.ts';
import type { MtlsMode } from '../model/security.ts';
import type { ApiContext, ApiRoute } from './api.ts';
import {
  explainMesh,
  explainRequest,
  type ExplainBody,
  type ExplainedWorkload,
} from './api-identity-explain.ts';
import { edgeItems, statsView, type EdgeItem } from './stats/api-stats.ts';
import { refKey, type ResourceRef } from './stats/query.ts';

/** Meshes with at most this many services (with workloads) get every pair, not only observed ones. */
export const MAX_SERVICES_FOR_ALL_PAIRS = 30;
const OBSERVED_WINDOW = '15m';

export interface SecurityEdge {
  /** The caller; no service accounts for an unmeshed caller (explained as plaintext). */
  src: ResourceRef & { serviceAccounts: string[] };
  dst: ResourceRef;
  /** Traffic went this way in the last 15 minutes. */
  observed: boolean;
  /** Whether all the observed traffic went over mTLS; null when not observed. */
  secured: boolean | null;
  /** partial: some callee workloads, or some of the caller's service accounts, are denied. */
  verdict: 'allow' | 'deny' | 'partial';
  /** The callee's mTLS mode; MIXED when its workloads differ. */
  mtls: MtlsMode | 'MIXED';
  /** The deciding policy (of a denial when there is one), and the resources it came from. */
  policy?: string;
  resources?: string[];
  reason: string;
}

export interface SecurityEdgesResponse {
  trustDomain: string;
  items: SecurityEdge[];
}

const UNKNOWN = 'unknown';

export function securityEdges(ctx: ApiContext): SecurityEdgesResponse {
  const trustDomain = ctx.identity?.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const opts = { trustDomain, mtls: ctx.identity !== undefined, mesh: explainMesh(ctx.view, trustDomain) };
  const catalog = new Map(
    [...opts.mesh.catalog.values()].filter((s) => s.workloads.length > 0).map((s) => [refKey(s), s]),
  );
  const pairs = new Map<string, { src: ResourceRef; dst: ResourceRef; edge?: EdgeItem }>();
  const v = statsView(ctx, new URLSearchParams({ window: OBSERVED_WINDOW }));
  for (const edge of edgeItems(v, 'services'))
    if (catalog.has(refKey(edge.dst)))
      pairs.set(`${refKey(edge.src)}\u0000${refKey(edge.dst)}`, { src: edge.src, dst: edge.dst, edge });
  if (catalog.size <= MAX_SERVICES_FOR_ALL_PAIRS)
    for (const src of catalog.values())
      for (const dst of catalog.values()) {
        const key = `${refKey(src)}\u0000${refKey(dst)}`;
        if (src !== dst && !pairs.has(key))
          pairs.set(key, {
            src: { namespace: src.namespace, name: src.name },
            dst: { namespace: dst.namespace, name: dst.name },
          });
      }

  const items = [...pairs.values()].map(({ src, dst, edge }): SecurityEdge => {
    const caller = src.name === UNKNOWN ? undefined : catalog.get(refKey(src));
    const accounts = [...new Set(caller?.workloads.map((w) => w.spec.serviceAccount) ?? [])].sort();
    const froms: ExplainBody['from'][] =
      accounts.length > 0
        ? accounts.map((serviceAccount) => ({ serviceAccount, namespace: src.namespace }))
        : [{ plaintext: true }];
    const to = `${dst.name}.${dst.namespace}`;
    const results = froms.flatMap((from) =>
      explainRequest(ctx.view, { from, to }, opts).workloads.map((w) => ({
        caller: 'serviceAccount' in from ? `service account ${from.serviceAccount}` : 'a plaintext caller',
        w,
      })),
    );
    return {
      src: { ...src, serviceAccounts: accounts },
      dst,
      observed: edge !== undefined,
      secured: edge?.secured ?? null,
      ...verdictOf(results),
    };
  });
  items.sort(
    (a, b) =>
      a.src.namespace.localeCompare(b.src.namespace) ||
      a.src.name.localeCompare(b.src.name) ||
      a.dst.namespace.localeCompare(b.dst.namespace) ||
      a.dst.name.localeCompare(b.dst.name),
  );
  return { trustDomain, items };
}

/** One verdict over every (caller account × callee workload); a denial decides when there is one. */
function verdictOf(
  results: { caller: string; w: ExplainedWorkload }[],
): Pick<SecurityEdge, 'verdict' | 'mtls' | 'policy' | 'resources' | 'reason'> {
  const denied = results.filter((r) => !r.w.allowed);
  const verdict = denied.length === 0 ? 'allow' : denied.length === results.length ? 'deny' : 'partial';
  const modes = new Set(results.map((r) => r.w.mtls));
  const mtls = modes.size === 1 ? [...modes][0]! : 'MIXED';
  const deciding = denied[0] ?? results[0];
  if (deciding === undefined) return { verdict, mtls, reason: 'no workloads' };
  const { caller, w } = deciding;
  return {
    verdict,
    mtls,
    ...(w.policy !== undefined ? { policy: w.policy } : {}),
    ...(w.resources !== undefined ? { resources: w.resources } : {}),
    reason:
      verdict === 'partial'
        ? `${denied.length} of ${results.length} denied, e.g. ${caller} to ${w.workload}: ${w.reason}`
        : w.reason,
  };
}

export const securityEdgeRoutes: ApiRoute[] = [
  ['GET', /^\/api\/v1\/security\/edges$/, async (ctx) => securityEdges(ctx)],
];
