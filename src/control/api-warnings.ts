// What is wrong with the config in force, for the dashboard (reader tokens may GET):
//   GET /api/v1/warnings → { revision, items: [{ resource, path, message }] }
// The same checks `trellis apply` answers with (validateResourceSet: dangling references, conflicts,
// how other meshes' kinds lower), over every resource the view holds, native and dialect kinds
// alike. Warnings, not errors: resources are applied one at a time and in any order.
import type http from 'node:http';
import { validateResourceSet, type ResourceWarning } from '../resources/parse.ts';
import type { ApiContext } from './api.ts';
import type { Access, ApiRole } from './api-auth.ts';

type Handler = (
  ctx: ApiContext,
  req: http.IncomingMessage,
  params: Record<string, string>,
  query: URLSearchParams,
  role: ApiRole | undefined,
) => Promise<unknown>;

export interface WarningsResponse {
  /** The store revision of the config the warnings are about. */
  revision: number;
  items: ResourceWarning[];
}

export function configWarnings(ctx: ApiContext): WarningsResponse {
  const revision = ctx.view.revision;
  return { revision, items: validateResourceSet([...ctx.view.all(), ...ctx.view.dialectResources()]) };
}

export const warningRoutes: [method: string, pattern: RegExp, handler: Handler, access?: Access][] = [
  ['GET', /^\/api\/v1\/warnings$/, async (ctx) => configWarnings(ctx)],
];
