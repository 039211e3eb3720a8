// The control plane's resources: kinds, parsing, the services they define.
export * from './kinds.ts';
export { parseResources, type ParseOptions } from './parse.ts';
export { validateResourceSet, type ResourceWarning } from './validate.ts';
export {
  buildServiceCatalog,
  byTargetService,
  resolveServiceRef,
  serviceKey,
  type MeshService,
  type Precedence,
  type ServiceId,
} from './catalog.ts';
