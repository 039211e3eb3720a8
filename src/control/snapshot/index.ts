// Resources + registered workloads → one proxy's snapshot of the internal model.
export {
  compileSnapshot,
  createSnapshotCompiler,
  type MeshState,
  type ProxyTarget,
  type SnapshotCompiler,
  type SnapshotOptions,
} from './compiler.ts';
export { INBOUND_APP_CLUSTER, outboundClusterName } from './clusters.ts';
export { interceptionPart, type MeshInterception, type Passthrough } from './interception.ts';
export { INBOUND_LISTENER, INBOUND_ROUTE_TABLE, OUTBOUND_LISTENER, OUTBOUND_ROUTE_TABLE } from './local.ts';
