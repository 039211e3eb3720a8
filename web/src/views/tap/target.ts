// The tap form's values: read from a link's query (`?target=service/NS/NAME&path=/x`), and checked
// into the body of POST /api/v1/tap as the server would check it, so a mistake is said beside the form.
import type { TapRequestBody } from '../../types.ts';

export type TargetKind = 'service' | 'workload';

export interface TapFormValues {
  kind: TargetKind;
  namespace: string;
  name: string;
  method: string;
  pathPrefix: string;
  authority: string;
  to: string;
  maxRps: string;
  headers: boolean;
}

/** `service/NS/NAME`, `workload/NS/NAME`, or `service/NAME` (namespace default), as links name a target. */
export function parseTarget(
  text: string | null,
): Pick<TapFormValues, 'kind' | 'namespace' | 'name'> | undefined {
  if (text === null || text === '') return undefined;
  const parts = text.split('/');
  const [kind, a, b] = parts;
  if ((kind !== 'service' && kind !== 'workload') || a === undefined || a === '' || parts.length > 3)
    return undefined;
  return b === undefined ? { kind, namespace: 'default', name: a } : { kind, namespace: a, name: b };
}

export function formFromQuery(query: URLSearchParams): TapFormValues {
  const target = parseTarget(query.get('target'));
  return {
    kind: target?.kind ?? 'service',
    namespace: target?.namespace ?? 'default',
    name: target?.name ?? '',
    method: query.get('method') ?? '',
    pathPrefix: query.get('path') ?? '',
    authority: query.get('authority') ?? '',
    to: query.get('to') ?? '',
    maxRps: query.get('maxRps') ?? '100',
    headers: query.get('headers') === '1',
  };
}

/** The request body, or why the form cannot be sent (checked as the server would, to say it here). */
export function tapBody(v: TapFormValues): TapRequestBody | string {
  const name = v.name.trim();
  const namespace = v.namespace.trim() || 'default';
  if (name === '') return 'Name the service or workload to tap.';
  const method = v.method.trim().toUpperCase();
  if (method !== '' && !/^[A-Z][A-Z0-9_-]{0,31}$/.test(method))
    return 'The method must be an HTTP method, e.g. GET.';
  const pathPrefix = v.pathPrefix.trim();
  if (pathPrefix !== '' && !pathPrefix.startsWith('/')) return 'The path prefix must start with "/".';
  const maxRps = Number(v.maxRps);
  if (!Number.isInteger(maxRps) || maxRps < 1 || maxRps > 1000)
    return 'Max requests per second must be a whole number from 1 to 1000.';
  const filter: NonNullable<TapRequestBody['filter']> = {};
  if (method !== '') filter.method = method;
  if (pathPrefix !== '') filter.pathPrefix = pathPrefix;
  if (v.authority.trim() !== '') filter.authority = v.authority.trim();
  if (v.to.trim() !== '') filter.to = v.to.trim();
  return { target: { kind: v.kind, namespace, name }, filter, maxRps, headers: v.headers };
}
