// Service virtual IPs, for `trellis get services -o wide`:
//   GET /api/v1/virtual-ips[?namespace=NS]   {items: [{name, namespace, address}]}, by namespace/name
// Services implied by workloads are listed too; a service without an address is absent.
import type { ApiContext, ApiRoute } from './api.ts';

export interface VirtualIpItem {
  name: string;
  namespace: string;
  address: string;
}

export function listVirtualIps(ctx: ApiContext, namespace: string | null): { items: VirtualIpItem[] } {
  const items: VirtualIpItem[] = [];
  for (const [key, address] of ctx.vips?.addresses() ?? []) {
    const dot = key.indexOf('.');
    const item = { name: key.slice(0, dot), namespace: key.slice(dot + 1), address };
    if (namespace === null || namespace === '' || item.namespace === namespace) items.push(item);
  }
  const id = (i: VirtualIpItem): string => `${i.namespace}/${i.name}`;
  return { items: items.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0)) };
}

export const virtualIpRoutes: ApiRoute[] = [
  ['GET', /^\/api\/v1\/virtual-ips$/, async (ctx, _req, _p, q) => listVirtualIps(ctx, q.get('namespace'))],
];
