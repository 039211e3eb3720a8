// TrafficSplit → the root service's routes: the weighted backends, for every request or (with
// `matches`) only for requests an HTTPRouteGroup / TCPRoute describes, the rest going to the root
// service itself, as the spec says.
import type { HeaderMatch, RouteMatch } from '../../model/schema.ts';
import { serviceKey } from '../../resources/catalog.ts';
import { kubeServiceOfHost, serviceRef } from '../common/hosts.ts';
import type { LowerContext, RouteCandidate, RouteInput, Warn } from '../common/lowering.ts';
import { integerWeights } from '../common/quantity.ts';
import type {
  HTTPRouteGroupResource,
  SmiHTTPMatch,
  SmiTCPRouteResource,
  TrafficSplitResource,
} from './schema.ts';

type MatchInput = Partial<RouteMatch>;

/** One HTTPRouteGroup match: pathRegex is anchored at the start of the path only. */
export function lowerGroupMatch(m: SmiHTTPMatch): MatchInput {
  const out: MatchInput = {};
  if (m.pathRegex !== undefined) out.path = { regex: `(?:${m.pathRegex}).*` };
  const methods = m.methods ?? [];
  if (methods.length > 0 && !methods.includes('*')) out.methods = methods;
  const filters = Array.isArray(m.headers) ? m.headers : m.headers === undefined ? [] : [m.headers];
  const headers: HeaderMatch[] = filters.flatMap((f) =>
    Object.entries(f).map(([name, regex]) => ({ name: name.toLowerCase(), regex, invert: false })),
  );
  if (headers.length > 0) out.headers = headers;
  return out;
}

function tcpMatches(r: SmiTCPRouteResource): MatchInput[] {
  const ports = r.spec.matches?.ports ?? [];
  if (ports.length === 0) return [{ methods: ['CONNECT'] }];
  return ports.map((p) => ({
    methods: ['CONNECT'],
    headers: [{ name: ':authority', suffix: `:${p}`, invert: false }],
  }));
}

export function lowerTrafficSplit(
  ts: TrafficSplitResource,
  groups: ReadonlyMap<string, HTTPRouteGroupResource>,
  tcpRoutes: ReadonlyMap<string, SmiTCPRouteResource>,
  ctx: LowerContext,
): RouteCandidate | undefined {
  const warn: Warn = (path, message, code) => ctx.warnings.warn(ts, path, message, code);
  const ns = ts.metadata.namespace;
  const root = kubeServiceOfHost(ts.spec.service, ns);
  if (root === undefined) {
    warn('spec.service', `"${ts.spec.service}" is not a service name`, 'host-not-found');
    return undefined;
  }
  if (!ctx.catalog.has(serviceKey(root)))
    warn('spec.service', `service "${serviceKey(root)}" does not exist (yet)`, 'host-not-found');
  const weights = integerWeights(ts.spec.backends.map((b) => b.weight));
  if (weights.every((w) => w === 0))
    warn('spec.backends', 'every weight is 0: matching requests get no backend');
  const backends: NonNullable<RouteInput['backends']> = [];
  ts.spec.backends.forEach((b, i) => {
    const id = kubeServiceOfHost(b.service, ns);
    if (id === undefined) {
      warn(
        `spec.backends[${i}].service`,
        `"${b.service}" is not a service name; backend dropped`,
        'host-not-found',
      );
      return;
    }
    if (!ctx.catalog.has(serviceKey(id)))
      warn(
        `spec.backends[${i}].service`,
        `service "${serviceKey(id)}" does not exist (yet): its share fails with 503`,
        'host-not-found',
      );
    backends.push({ service: serviceRef(id), weight: weights[i]! });
  });
  if (backends.length === 0) return undefined;
  const rootRoute: RouteInput = { name: 'root', backends: [{ service: serviceRef(root), weight: 1 }] };
  const refs = ts.spec.matches ?? [];
  if (refs.length === 0)
    return {
      dialect: 'smi',
      service: root,
      sources: [ts],
      routes: [{ backends }],
      origins: [{ resource: ts, path: 'spec.backends' }],
    };
  const matches: MatchInput[] = [];
  const sources: RouteCandidate['sources'] = [ts];
  refs.forEach((ref, i) => {
    const key = `${ns}/${ref.name}`;
    if (ref.kind === 'TCPRoute') {
      const r = tcpRoutes.get(key);
      if (r === undefined)
        warn(`spec.matches[${i}]`, `TCPRoute ${key} does not exist (yet): it matches nothing`);
      else {
        matches.push(...tcpMatches(r));
        sources.push(r);
      }
      return;
    }
    const g = groups.get(key);
    if (g === undefined) {
      warn(`spec.matches[${i}]`, `HTTPRouteGroup ${key} does not exist (yet): it matches nothing`);
      return;
    }
    // Several groups merge into one: any of their matches selects the split.
    matches.push(...g.spec.matches.map(lowerGroupMatch));
    sources.push(g);
  });
  const routes: RouteInput[] =
    matches.length === 0 ? [rootRoute] : [{ name: 'split', match: matches, backends }, rootRoute];
  const origins = routes.map((r) => ({
    resource: ts,
    path: r === rootRoute ? 'spec.service' : 'spec.matches',
  }));
  return { dialect: 'smi', service: root, sources, routes, origins };
}
