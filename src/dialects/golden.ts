// The golden cases: src/dialects/<dialect>/golden/<case>/input.yaml is applied (parsed as
// `trellis apply` parses it) over testdata/workloads.yaml, lowered, and compiled for the
// productpage-v1 proxy; expected.json holds what came out: parse warnings, the lowered native
// resources, and the outbound virtual hosts and clusters they produce. A case with security kinds
// also holds the inbound security of every workload they reach (securityFor); one with Telemetry,
// the telemetry of every workload it reaches (telemetryFor, with GOLDEN_TELEMETRY_DEFAULTS).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../model/load.ts';
import type { Cluster, VirtualHost } from '../model/schema.ts';
import { compileSnapshot } from '../control/snapshot/compiler.ts';
import { outboundClusterName } from '../control/snapshot/clusters.ts';
import { formatDiagnostic, type Diagnostic } from '../errors.ts';
import { serviceKey, resolveServiceRef } from '../resources/catalog.ts';
import { parseResources } from '../resources/parse.ts';
import {
  applyExternalServices,
  lowerMeshState,
  securityFor,
  sidecarScope,
  splitResources,
  telemetryFor,
  workloadIdentity,
  type TelemetryDefaults,
  type WorkloadSecurity,
  type WorkloadTelemetry,
} from './index.ts';
import type { WorkloadResource } from '../resources/kinds.ts';
import type { DialectResource } from './types.ts';

export const DIALECTS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const CLIENT_WORKLOAD = 'productpage-v1';
export const TRUST_DOMAIN = 'cluster.local';

const SECURITY_KINDS: ReadonlySet<string> = new Set([
  'PeerAuthentication',
  'AuthorizationPolicy',
  'RequestAuthentication',
  'TrafficTarget',
]);

/** The security of every workload some security resource reaches (by `namespace/name`), and who is left alone. */
function securityOf(
  dialects: readonly DialectResource[],
  workloads: readonly WorkloadResource[],
): { workloads: Record<string, WorkloadSecurity>; untouched: string[] } {
  const out: Record<string, WorkloadSecurity> = {};
  const untouched: string[] = [];
  const named = workloads.map((w): [string, WorkloadResource] => [
    `${w.metadata.namespace}/${w.metadata.name}`,
    w,
  ]);
  for (const [name, w] of named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const sec = securityFor(dialects, workloadIdentity(w), { trustDomain: TRUST_DOMAIN });
    if (sec.origins.length === 0) untouched.push(name);
    else out[name] = sec;
  }
  return { workloads: out, untouched };
}

/** The control plane's telemetry options in every golden case. */
export const GOLDEN_TELEMETRY_DEFAULTS: TelemetryDefaults = {
  otlpEndpoint: 'http://otel-collector.observability:4318/v1/traces',
  zipkinEndpoint: 'http://zipkin.istio-system:9411/api/v2/spans',
  accessLogPath: '/var/log/trellis/access.log',
};

/** The telemetry of every workload some Telemetry reaches (by `namespace/name`), and who is left alone. */
function telemetryOf(
  dialects: readonly DialectResource[],
  workloads: readonly WorkloadResource[],
): { workloads: Record<string, WorkloadTelemetry>; untouched: string[] } {
  const out: Record<string, WorkloadTelemetry> = {};
  const untouched: string[] = [];
  const named = workloads.map((w): [string, WorkloadResource] => [
    `${w.metadata.namespace}/${w.metadata.name}`,
    w,
  ]);
  for (const [name, w] of named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const t = telemetryFor(dialects, workloadIdentity(w), GOLDEN_TELEMETRY_DEFAULTS);
    if (t.origins.length === 0) untouched.push(name);
    else out[name] = t;
  }
  return { workloads: out, untouched };
}

export interface GoldenCase {
  dialect: string;
  name: string;
  dir: string;
}

export function goldenCases(): GoldenCase[] {
  const out: GoldenCase[] = [];
  for (const dialect of ['istio', 'smi', 'gateway', 'linkerd']) {
    const root = path.join(DIALECTS_DIR, dialect, 'golden');
    for (const name of readdirSync(root).sort()) out.push({ dialect, name, dir: path.join(root, name) });
  }
  return out;
}

/** Deterministic shuffle (xorshift), to check that order never matters. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed | 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = Math.abs(x) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** What a case produces, as JSON; `order` reorders the resources before lowering. */
export function runGolden(
  c: GoldenCase,
  order: (rs: DialectResource[]) => DialectResource[] = (rs) => rs,
): unknown {
  const fixture = readFileSync(path.join(DIALECTS_DIR, 'testdata', 'workloads.yaml'), 'utf8');
  const warnings: Diagnostic[] = [];
  const input = parseResources(readFileSync(path.join(c.dir, 'input.yaml'), 'utf8'), 'input.yaml', {
    warnings,
  });
  const stored = splitResources([...parseResources(fixture, 'workloads.yaml'), ...input]);
  const ordered = order(stored.dialects);
  const lowered = lowerMeshState({ ...stored, dialects: ordered });
  const { state } = lowered;
  const client = state.workloads.find((w) => w.metadata.name === CLIENT_WORKLOAD)!;
  // As the push server does: an Istio Sidecar selecting the proxy sets its scope.
  const scope = sidecarScope(client, lowered.scopes);
  const raw = compileSnapshot(
    state,
    { workload: client },
    { version: 'golden', ...(scope === undefined ? {} : { scope }) },
  );
  // The proxy's own loader must take what was compiled.
  const config = parseConfigText(JSON.stringify(applyExternalServices(raw, lowered.externals)), 'snapshot');
  const newRoutes = state.routes.slice(stored.routes.length);
  const newPolicies = state.policies.slice(stored.policies.length);
  const newServices = state.services.slice(stored.services.length);
  // The virtual hosts the case changed, and every cluster their routes or its policies touch.
  const touched = new Set([
    ...newRoutes.map((r) => serviceKey(resolveServiceRef(r.spec.service, r.metadata.namespace))),
    ...lowered.externals.map((e) => serviceKey(e.service)),
  ]);
  const outbound = config.routeTables.find((t) => t.name === 'outbound')!;
  const virtualHosts: VirtualHost[] = outbound.virtualHosts.filter((v) => touched.has(v.name));
  const clusterNames = new Set([
    ...virtualHosts.flatMap((v) =>
      v.routes.flatMap((r) => [...r.backends, ...(r.mirrors ?? [])].map((b) => b.cluster)),
    ),
    ...newPolicies.map((p) => outboundClusterName(resolveServiceRef(p.spec.service, p.metadata.namespace))),
  ]);
  const clusters: Cluster[] = config.clusters.filter((cl) => clusterNames.has(cl.name));
  const security = ordered.some((r) => SECURITY_KINDS.has(r.kind))
    ? securityOf(ordered, state.workloads)
    : undefined;
  const telemetry = ordered.some((r) => r.kind === 'Telemetry')
    ? telemetryOf(ordered, state.workloads)
    : undefined;
  return {
    parseWarnings: warnings.map(formatDiagnostic),
    warnings: lowered.warnings.map((w) => `[${w.code}] ${w.resource} ${w.path}: ${w.message}`),
    lowered: {
      services: newServices,
      routes: newRoutes,
      policies: newPolicies,
      ...(lowered.externals.length > 0 ? { externals: lowered.externals } : {}),
      ...(lowered.scopes.length > 0 ? { scopes: lowered.scopes } : {}),
    },
    ...(security === undefined ? {} : { security }),
    ...(telemetry === undefined ? {} : { telemetry }),
    compiled: {
      client: CLIENT_WORKLOAD,
      ...(scope === undefined ? {} : { scope }),
      allVirtualHosts: outbound.virtualHosts.map((v) => v.name),
      virtualHosts,
      clusters,
    },
  };
}
