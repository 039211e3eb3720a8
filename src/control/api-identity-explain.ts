// `trellis authz explain` (POST /api/v1/authz/explain): for every workload behind a service, what
// its inbound side would decide for a request from a given service account (or a plaintext caller),
// and why: the mTLS mode first (a plaintext caller under STRICT never reaches authorization), then
// each authorization policy and rule with the fields that did not match (src/authz/explain.ts).
import { z } from 'zod';
import type { RequestAttributes } from '../authz/attributes.ts';
import { explainAuthorization, type AuthzPolicyExplanation } from '../authz/explain.ts';
import { prepareSecurity, workloadIdentity, type PreparedSecurity } from '../dialects/index.ts';
import { TrellisError } from '../errors.ts';
import { IdentityError } from '../identity/errors.ts';
import { spiffeId } from '../identity/spiffe.ts';
import type { MtlsMode } from '../model/security.ts';
import {
  buildServiceCatalog,
  resolveServiceRef,
  serviceKey,
  type MeshService,
} from '../resources/catalog.ts';
import type { WorkloadResource } from '../resources/kinds.ts';
import { ApiError, NotFoundError } from './errors.ts';
import type { MeshView } from './mesh-view.ts';

const Address = z.string().max(64).optional();

export const ExplainBody = z.strictObject({
  from: z.union([
    z.strictObject({
      serviceAccount: z.string().min(1).max(253),
      namespace: z.string().min(1).max(253).optional(),
      /** The caller's IP, for ipBlocks and source.ip conditions. */
      address: Address,
    }),
    z.strictObject({ plaintext: z.literal(true), address: Address }),
  ]),
  /** `service`, `service.ns`, `service.ns.svc.cluster.local` (namespace default: default). */
  to: z.string().min(1).max(253),
  method: z.string().min(1).max(32).optional(),
  path: z.string().startsWith('/').max(8192).optional(),
  /** destination.port as policies see it: the workload's app port (default). */
  port: z.number().int().min(1).max(65535).optional(),
  headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
});
export type ExplainBody = z.infer<typeof ExplainBody>;

export interface ExplainedPolicy extends AuthzPolicyExplanation {
  /** The resources it came from (`Kind/namespace/name`). */
  resources: string[];
}

export interface ExplainedWorkload {
  workload: string;
  namespace: string;
  serviceAccount: string;
  mtls: MtlsMode;
  allowed: boolean;
  /** False: refused before authorization (a plaintext caller under STRICT). */
  reachesAuthorization: boolean;
  reason: string;
  /** The policy that decided (a matching DENY or ALLOW), and where it came from. */
  policy?: string;
  resources?: string[];
  audit: string[];
  policies: ExplainedPolicy[];
  notes: string[];
}

export interface Explanation {
  service: { name: string; namespace: string };
  source: { principal?: string; plaintext: boolean; address?: string };
  request: { method: string; path: string; port?: number; headers: Record<string, string[]> };
  workloads: ExplainedWorkload[];
}

/** The mesh as explain reads it, made once when one caller explains many requests. */
export interface ExplainMesh {
  catalog: ReadonlyMap<string, MeshService>;
  security: PreparedSecurity;
}

export function explainMesh(view: MeshView, trustDomain: string): ExplainMesh {
  const state = view.state();
  return {
    catalog: buildServiceCatalog(state.services, state.workloads),
    security: prepareSecurity(view.dialectResources(), { trustDomain }),
  };
}

export function explainRequest(
  view: MeshView,
  body: ExplainBody,
  opts: { trustDomain: string; mtls: boolean; mesh?: ExplainMesh },
): Explanation {
  const plaintext = 'plaintext' in body.from;
  const principal = 'serviceAccount' in body.from ? callerId(opts.trustDomain, body.from) : undefined;
  const id = resolveServiceRef(body.to, 'default');
  const mesh = opts.mesh ?? explainMesh(view, opts.trustDomain);
  const service = mesh.catalog.get(serviceKey(id));
  if (service === undefined) throw NotFoundError(`service ${id.name}.${id.namespace}`);
  const headers = Object.fromEntries(
    Object.entries(body.headers ?? {}).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v : [v]]),
  );
  const flat = Object.entries(headers).flatMap(([k, vs]) => vs.flatMap((v) => [k, v]));
  const method = (body.method ?? 'GET').toUpperCase();
  const path = body.path ?? '/';
  const prepared = mesh.security;
  const address = body.from.address;

  const explain = (w: WorkloadResource): ExplainedWorkload => {
    const sec = prepared.forWorkload(workloadIdentity(w));
    const resourcesOf = (policy: string): string[] =>
      sec.origins.filter((o) => o.policy === policy).map((o) => o.resource);
    const base = {
      workload: w.metadata.name,
      namespace: w.metadata.namespace,
      serviceAccount: w.spec.serviceAccount,
      mtls: sec.mtls,
    };
    if (plaintext && sec.mtls === 'STRICT' && opts.mtls)
      return {
        ...base,
        allowed: false,
        reachesAuthorization: false,
        reason:
          'mTLS STRICT: a plaintext connection is refused at the handshake; it never reaches authorization',
        resources: resourcesOf('mtls'),
        audit: [],
        policies: [],
        notes: [],
      };
    const notes: string[] = [];
    let peer = principal;
    if (peer !== undefined && !opts.mtls) {
      peer = undefined;
      notes.push('this control plane runs without a CA: callers have no mTLS identity');
    } else if (peer !== undefined && sec.mtls === 'DISABLE') {
      peer = undefined;
      notes.push('mTLS DISABLE: callers reach this workload in plaintext, without an identity');
    }
    if (sec.inbound.jwtRules.length > 0)
      notes.push(
        'RequestAuthentication applies: explained without a JWT (request principals and claims unset)',
      );
    const tcp = w.spec.protocol === 'tcp';
    if (tcp)
      notes.push('a TCP workload: a connection is checked, HTTP fields (methods, paths, headers) are absent');
    const attrs: RequestAttributes = {
      source: { address: address ?? '', ...(peer !== undefined ? { principal: peer } : {}) },
      destination: { port: body.port ?? w.spec.ports.app },
      ...(tcp ? {} : { http: { method, authority: body.to, path, headers: flat } }),
    };
    try {
      const x = explainAuthorization(sec.inbound.authorization, attrs);
      const decided = x.decision.policy;
      return {
        ...base,
        allowed: x.decision.allowed,
        reachesAuthorization: true,
        reason: x.decision.reason,
        ...(decided !== undefined ? { policy: decided, resources: resourcesOf(decided) } : {}),
        audit: x.decision.audit,
        policies: x.policies.map((p) => ({ ...p, resources: resourcesOf(p.name) })),
        notes,
      };
    } catch (err) {
      // The proxy would refuse this config too (NACK): say so rather than fail the whole answer.
      if (!(err instanceof TrellisError)) throw err;
      return {
        ...base,
        allowed: false,
        reachesAuthorization: true,
        reason: `the authorization policies do not compile: ${err.message}`,
        audit: [],
        policies: [],
        notes,
      };
    }
  };
  return {
    service: { name: service.name, namespace: service.namespace },
    source: {
      ...(principal !== undefined ? { principal } : {}),
      plaintext,
      ...(address !== undefined ? { address } : {}),
    },
    request: { method, path, ...(body.port !== undefined ? { port: body.port } : {}), headers },
    workloads: service.workloads.map(explain),
  };
}

function callerId(
  trustDomain: string,
  from: { serviceAccount: string; namespace?: string | undefined },
): string {
  try {
    return spiffeId(trustDomain, from.namespace ?? 'default', from.serviceAccount);
  } catch (err) {
    if (err instanceof IdentityError) throw new ApiError(err.code, 400, err.message);
    throw err;
  }
}
