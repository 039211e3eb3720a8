// VirtualService → one route candidate per host: the `http` rules in order, then the `tcp` rules
// as CONNECT routes (how opaque TCP reaches a service through the outbound listener).
import { serviceKey, type ServiceId } from '../../resources/catalog.ts';
import { serviceRef } from '../common/hosts.ts';
import type { RouteCandidate, RouteInput, Warn } from '../common/lowering.ts';
import type { IstioContext } from './context.ts';
import { lowerHeaders, lowerMatch, lowerRoutePolicies } from './http-route.ts';
import type { IstioHTTPRoute, IstioTCPRoute, VirtualServiceResource } from './virtual-service-schema.ts';

function weightsOf(n: number, given: (number | undefined)[]): number[] {
  // One destination takes everything; with several, an omitted weight is 0 (as Istio reads it).
  return n === 1 ? [given[0] ?? 100] : given.map((w) => w ?? 0);
}

function checkWeights(weights: number[], path: string, warn: Warn): void {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (weights.length > 1 && sum !== 100)
    warn(
      path,
      `weights add up to ${sum}, not 100 as Istio requires; traffic is split in proportion`,
      'weights',
    );
}

function lowerHttp(
  r: IstioHTTPRoute,
  i: number,
  host: ServiceId,
  vs: VirtualServiceResource,
  ctx: IstioContext,
  warn: Warn,
): RouteInput | undefined {
  const path = `spec.http[${i}]`;
  if (r.delegate !== undefined) {
    warn(`${path}.delegate`, 'delegate VirtualServices are not supported; rule dropped');
    return undefined;
  }
  let match: RouteInput['match'];
  if (r.match !== undefined && r.match.length > 0) {
    const kept = r.match.flatMap((m, mi) => lowerMatch(m, `${path}.match[${mi}]`, warn) ?? []);
    if (kept.length === 0) return undefined;
    match = kept.length === 1 ? kept[0] : kept;
  }
  const route: RouteInput = { ...lowerRoutePolicies(r, path, vs, ctx, warn), backends: [] };
  if (match !== undefined) route.match = match;
  const dests = r.route ?? [];
  if (dests.length > 0 && r.redirect === undefined) {
    const weights = weightsOf(
      dests.length,
      dests.map((d) => d.weight),
    );
    checkWeights(weights, `${path}.route`, warn);
    dests.forEach((d, di) => {
      const service = ctx.destination(d.destination, vs, `${path}.route[${di}].destination`);
      if (service !== undefined) route.backends!.push({ service, weight: weights[di]! });
    });
    if (route.backends!.length === 0) return undefined;
    // Per-destination header changes: the model has them per route only.
    const withHeaders = dests.filter((d) => d.headers !== undefined);
    if (withHeaders.length === 1 && dests.length === 1) {
      const h = lowerHeaders(dests[0]!.headers);
      route.requestHeaders = mergeMutation(route.requestHeaders, h.requestHeaders);
      route.responseHeaders = mergeMutation(route.responseHeaders, h.responseHeaders);
    } else if (withHeaders.length > 0)
      warn(`${path}.route`, 'headers per destination of a split are not supported; ignored');
  } else if (r.directResponse !== undefined) {
    delete route.retries;
    // Answered at the proxy: a 100% abort with the status (the body cannot be expressed).
    if (r.directResponse.body !== undefined)
      warn(
        `${path}.directResponse.body`,
        'a direct response body is not supported; the status is sent without it',
      );
    route.backends = [{ service: serviceRef(host), weight: 1 }];
    route.fault = { ...route.fault, abort: { httpStatus: r.directResponse.status, percent: 100 } };
  } else if (r.redirect === undefined) {
    warn(path, 'a rule needs route, redirect or directResponse; dropped');
    return undefined;
  }
  // The proxy answers redirects itself: nothing to retry.
  if (r.redirect !== undefined) delete route.retries;
  return route;
}

function mergeMutation(
  a: RouteInput['requestHeaders'],
  b: RouteInput['requestHeaders'],
): RouteInput['requestHeaders'] {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return {
    set: { ...a.set, ...b.set },
    add: { ...a.add, ...b.add },
    remove: [...(a.remove ?? []), ...(b.remove ?? [])],
  };
}

function lowerTcp(
  r: IstioTCPRoute,
  i: number,
  vs: VirtualServiceResource,
  ctx: IstioContext,
  warn: Warn,
): RouteInput | undefined {
  const path = `spec.tcp[${i}]`;
  const matches: NonNullable<Extract<RouteInput['match'], unknown[]>> = [];
  for (const [mi, m] of (r.match ?? [{}]).entries()) {
    if (
      m.sourceLabels !== undefined ||
      m.sourceNamespace !== undefined ||
      m.destinationSubnets !== undefined
    ) {
      warn(
        `${path}.match[${mi}]`,
        'sourceLabels/sourceNamespace/destinationSubnets are not supported: match dropped',
      );
      continue;
    }
    if (m.gateways !== undefined && !m.gateways.includes('mesh')) continue;
    matches.push({
      methods: ['CONNECT'],
      ...(m.port === undefined ? {} : { headers: [{ name: ':authority', suffix: `:${m.port}` }] }),
    });
  }
  if (matches.length === 0) return undefined;
  const dests = r.route ?? [];
  const weights = weightsOf(
    dests.length,
    dests.map((d) => d.weight),
  );
  checkWeights(weights, `${path}.route`, warn);
  const backends = dests.flatMap((d, di) => {
    const service = ctx.destination(d.destination, vs, `${path}.route[${di}].destination`);
    return service === undefined ? [] : [{ service, weight: weights[di]! }];
  });
  if (backends.length === 0) return undefined;
  return { match: matches.length === 1 ? matches[0] : matches, backends };
}

export function lowerVirtualService(vs: VirtualServiceResource, ctx: IstioContext): RouteCandidate[] {
  const warn: Warn = (path, message, code) => ctx.base.warnings.warn(vs, path, message, code);
  const { spec } = vs;
  if (spec.gateways !== undefined && spec.gateways.length > 0) {
    if (!spec.gateways.includes('mesh')) {
      warn(
        'spec.gateways',
        'bound to gateways only (not "mesh"): ingress is a separate capability; not lowered',
      );
      return [];
    }
    if (spec.gateways.length > 1)
      warn('spec.gateways', 'only the "mesh" binding is lowered; gateways ignored');
  }
  if (spec.exportTo !== undefined) warn('spec.exportTo', 'not supported: visible to every namespace');
  if (spec.tls !== undefined && spec.tls.length > 0)
    warn('spec.tls', 'TLS (SNI) routes are not supported; ignored');
  const out: RouteCandidate[] = [];
  const seen = new Set<string>();
  spec.hosts.forEach((host, hi) => {
    if (host.includes('*')) {
      warn(`spec.hosts[${hi}]`, `wildcard host "${host}" is not supported; ignored`);
      return;
    }
    const id = ctx.resolve(host, vs.metadata.namespace);
    if (id === undefined) {
      warn(
        `spec.hosts[${hi}]`,
        `host "${host}" names no service (declare external hosts with a ServiceEntry)`,
        'host-not-found',
      );
      return;
    }
    if (seen.has(serviceKey(id))) return;
    seen.add(serviceKey(id));
    const lowered = [
      ...spec.http.map((r, i): [RouteInput | undefined, string] => [
        lowerHttp(r, i, id, vs, ctx, warn),
        `spec.http[${i}]`,
      ]),
      ...spec.tcp.map((r, i): [RouteInput | undefined, string] => [
        lowerTcp(r, i, vs, ctx, warn),
        `spec.tcp[${i}]`,
      ]),
    ].filter((x): x is [RouteInput, string] => x[0] !== undefined);
    if (lowered.length === 0) {
      warn('spec', `no rule could be lowered for ${serviceKey(id)}`);
      return;
    }
    out.push({
      dialect: 'istio',
      service: id,
      sources: [vs],
      routes: lowered.map(([r]) => r),
      origins: lowered.map(([, path]) => ({ resource: vs, path })),
    });
  });
  return out;
}
