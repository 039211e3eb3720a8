// A DestinationRule trafficPolicy (top level, per subset, per port) → a native TrafficPolicy
// spec: loadBalancer → lb (consistentHash → ring_hash/maglev with its hash key),
// connectionPool → limits/connectTimeout/pool, outlierDetection, tls (and meshTls).
import type { PolicySpecInput, Warn } from '../common/lowering.ts';
import type { IstioPolicyParts, IstioTrafficPolicy } from './destination-rule-schema.ts';

type Spec = Omit<PolicySpecInput, 'service'>;

const SIMPLE_LB: Readonly<Record<string, 'round_robin' | 'random' | 'least_request' | undefined>> = {
  ROUND_ROBIN: 'round_robin',
  RANDOM: 'random',
  LEAST_REQUEST: 'least_request',
  LEAST_CONN: 'least_request',
};

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function lowerLb(lb: NonNullable<IstioPolicyParts['loadBalancer']>, path: string, warn: Warn): Spec['lb'] {
  for (const k of ['localityLbSetting', 'warmupDurationSecs', 'warmup'] as const)
    if (lb[k] !== undefined) warn(`${path}.${k}`, 'not supported; ignored');
  const ch = lb.consistentHash;
  if (ch !== undefined) {
    const c = `${path}.consistentHash`;
    let hash: { header?: string; cookie?: string; sourceIp?: boolean } | undefined;
    if (ch.httpHeaderName !== undefined) hash = { header: ch.httpHeaderName.toLowerCase() };
    else if (ch.httpCookie !== undefined) {
      hash = { cookie: ch.httpCookie.name };
      if (ch.httpCookie.ttl !== undefined || ch.httpCookie.path !== undefined)
        warn(
          `${c}.httpCookie`,
          'the cookie is never generated (ttl/path ignored): requests without it hash nothing',
        );
    } else if (ch.useSourceIp === true) hash = { sourceIp: true };
    else if (ch.httpQueryParameterName !== undefined)
      warn(
        `${c}.httpQueryParameterName`,
        'hashing on a query parameter is not supported; default balancing used',
      );
    if (hash === undefined) return undefined;
    if (ch.maglev !== undefined) {
      const size = ch.maglev.tableSize;
      const ok = size !== undefined && size >= 7 && size <= 8_388_593 && isPrime(size);
      if (size !== undefined && !ok)
        warn(`${c}.maglev.tableSize`, `${size} is not a prime in 7..8388593; default used`);
      return { policy: 'maglev', hash, ...(ok ? { tableSize: size } : {}) };
    }
    const size = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
    const ok = size !== undefined && size >= 7 && size <= 8_388_593;
    if (size !== undefined && !ok) warn(`${c}`, `ring size ${size} outside 7..8388593; default used`);
    return { policy: 'ring_hash', hash, ...(ok ? { tableSize: size } : {}) };
  }
  if (lb.simple === 'PASSTHROUGH') {
    warn(
      `${path}.simple`,
      'PASSTHROUGH (to the original destination) is not supported; default balancing used',
    );
    return undefined;
  }
  const policy = lb.simple === undefined ? undefined : SIMPLE_LB[lb.simple];
  return policy === undefined ? undefined : { policy };
}

function lowerPool(
  cp: NonNullable<IstioPolicyParts['connectionPool']>,
  path: string,
  warn: Warn,
  out: Spec,
): void {
  const limits: NonNullable<Spec['limits']> = {};
  const { tcp, http } = cp;
  if (tcp?.maxConnections !== undefined && tcp.maxConnections > 0) limits.maxConnections = tcp.maxConnections;
  if (tcp?.connectTimeout !== undefined) out.connectTimeout = tcp.connectTimeout;
  for (const k of ['tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'] as const)
    if (tcp?.[k] !== undefined) warn(`${path}.tcp.${k}`, 'not supported; ignored');
  if (http?.http1MaxPendingRequests !== undefined) limits.maxPendingRequests = http.http1MaxPendingRequests;
  if (http?.http2MaxRequests !== undefined && http.http2MaxRequests > 0)
    limits.maxConcurrentRequests = http.http2MaxRequests;
  // 0 means unlimited in Istio.
  if (http?.maxRequestsPerConnection !== undefined && http.maxRequestsPerConnection > 0)
    limits.maxRequestsPerConnection = http.maxRequestsPerConnection;
  if (http?.maxRetries !== undefined) limits.maxConcurrentRetries = http.maxRetries;
  if (http?.idleTimeout !== undefined) out.pool = { idleTimeout: http.idleTimeout };
  for (const k of ['h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams'] as const)
    if (http?.[k] !== undefined) warn(`${path}.http.${k}`, 'not supported; ignored');
  if (Object.keys(limits).length > 0) out.limits = limits;
}

function lowerOutlier(
  o: NonNullable<IstioPolicyParts['outlierDetection']>,
  path: string,
  warn: Warn,
  out: Spec,
): void {
  const od: NonNullable<Spec['outlierDetection']> = {};
  if (o.consecutive5xxErrors !== undefined) od.consecutive5xx = o.consecutive5xxErrors;
  if (o.consecutiveGatewayErrors !== undefined) od.consecutiveGatewayErrors = o.consecutiveGatewayErrors;
  else if (o.consecutiveErrors !== undefined) {
    // Deprecated; Istio read it as gateway errors (502, 503, 504).
    warn(`${path}.consecutiveErrors`, 'deprecated: read as consecutiveGatewayErrors');
    od.consecutiveGatewayErrors = o.consecutiveErrors;
  }
  if (o.interval !== undefined) od.interval = o.interval;
  if (o.baseEjectionTime !== undefined) od.baseEjectionTime = o.baseEjectionTime;
  if (o.maxEjectionPercent !== undefined) od.maxEjectionPercent = o.maxEjectionPercent;
  // Below this share of healthy hosts Envoy balances across all of them: the panic threshold.
  if (o.minHealthPercent !== undefined) out.panicThreshold = o.minHealthPercent;
  for (const k of ['splitExternalLocalOriginErrors', 'consecutiveLocalOriginFailures'] as const)
    if (o[k] !== undefined) warn(`${path}.${k}`, 'not supported; ignored');
  out.outlierDetection = od;
}

/**
 * ISTIO_MUTUAL is what the mesh does anyway (nothing to set); DISABLE to a mesh service turns mesh
 * mTLS off (`meshTls: false`), to an external one means plain TCP (the default there); SIMPLE and
 * MUTUAL originate the given TLS instead of mesh mTLS.
 */
function lowerTls(
  t: NonNullable<IstioPolicyParts['tls']>,
  path: string,
  warn: Warn,
  out: Spec,
  mesh: boolean,
): void {
  for (const k of ['credentialName', 'subjectAltNames', 'caCrl'] as const)
    if (t[k] !== undefined) warn(`${path}.${k}`, 'not supported; ignored');
  if (t.mode === 'ISTIO_MUTUAL') return;
  if (t.mode === 'DISABLE') {
    if (mesh) out.meshTls = false;
    return;
  }
  out.tls = {
    ...(t.caCertificates === undefined ? {} : { ca: t.caCertificates }),
    ...(t.mode === 'MUTUAL' && t.clientCertificate !== undefined ? { cert: t.clientCertificate } : {}),
    ...(t.mode === 'MUTUAL' && t.privateKey !== undefined ? { key: t.privateKey } : {}),
    ...(t.sni === undefined ? {} : { serverName: t.sni }),
    insecureSkipVerify: t.insecureSkipVerify ?? false,
  };
}

/** Istio's merge: each part set at the more specific level replaces the whole part. */
export function overlay(base: IstioPolicyParts, over: IstioPolicyParts | undefined): IstioPolicyParts {
  if (over === undefined) return base;
  return {
    loadBalancer: over.loadBalancer ?? base.loadBalancer,
    connectionPool: over.connectionPool ?? base.connectionPool,
    outlierDetection: over.outlierDetection ?? base.outlierDetection,
    tls: over.tls ?? base.tls,
  };
}

/**
 * The parts that apply to a service with `ports`: a port's settings count only when the service
 * has that one port, since Trellis keeps one cluster per service, not one per port.
 */
export function effectiveParts(
  p: IstioTrafficPolicy | undefined,
  ports: readonly number[],
  path: string,
  warn: Warn,
): IstioPolicyParts {
  if (p === undefined) return {};
  for (const k of ['tunnel', 'proxyProtocol', 'retryBudget'] as const)
    if (p[k] !== undefined) warn(`${path}.${k}`, 'not supported; ignored');
  let parts: IstioPolicyParts = p;
  (p.portLevelSettings ?? []).forEach((s, i) => {
    if (ports.length === 1 && ports[0] === s.port.number) parts = overlay(parts, s);
    else
      warn(
        `${path}.portLevelSettings[${i}]`,
        `settings for port ${s.port.number} apply only to a service with that single port (ports: ${ports.join(', ') || 'none'}); ignored`,
      );
  });
  return parts;
}

/** `mesh`: the host is a mesh service (its endpoints are sidecars), not a ServiceEntry's. */
export function lowerPolicyParts(
  p: IstioPolicyParts,
  path: string,
  warn: Warn,
  mesh: boolean,
): Spec | undefined {
  const out: Spec = {};
  if (p.loadBalancer !== undefined) {
    const lb = lowerLb(p.loadBalancer, `${path}.loadBalancer`, warn);
    if (lb !== undefined) out.lb = lb;
  }
  if (p.connectionPool !== undefined) lowerPool(p.connectionPool, `${path}.connectionPool`, warn, out);
  if (p.outlierDetection !== undefined)
    lowerOutlier(p.outlierDetection, `${path}.outlierDetection`, warn, out);
  if (p.tls !== undefined) lowerTls(p.tls, `${path}.tls`, warn, out, mesh);
  return Object.keys(out).length === 0 ? undefined : out;
}
