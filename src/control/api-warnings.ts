// What is wrong with the config in force, for the dashboard (reader tokens may GET):
//   GET /api/v1/warnings → { revision, items: [{ resource, path, message }] }
// The same checks `trellis apply` answers with (validateResourceSet: dangling references, conflicts,
// how other meshes' kinds lower), over every resource the view holds, native and dialect kinds
// alike. Warnings, not errors: resources are applied one at a time and in any order.
import { validateResourceSet, type ResourceWarning } from '../resources/parse.ts';
import type { ApiContext, ApiRoute } from './api.ts';

export interface WarningsResponse {
  /** The store revision of the config the warnings are about. */
  revision: number;
  items: ResourceWarning[];
}

export function configWarnings(ctx: ApiContext): WarningsResponse {
  const revision = ctx.view.revision;
  return { revision, items: validateResourceSet([...ctx.view.all(), ...ctx.view.dialectResources()]) };
}

export const warningRoutes: ApiRoute[] = [
  ['GET', /^\/api\/v1\/warnings$/, async (ctx) => configWarnings(ctx)],
];
