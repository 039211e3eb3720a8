// The API's shapes. Golden and ResourceRef come from the server's own module (types only: nothing
// of the server is bundled); the response shapes are mirrored here until they move to a module
// without Node imports.
import type { Golden, ResourceRef } from '../../src/control/stats/query.ts';
export type { Golden, ResourceRef };

export interface StatItem extends ResourceRef {
  meshed: { connected: number; total: number } | null;
  stats: Golden | null;
}
export interface EdgeItem {
  src: ResourceRef;
  dst: ResourceRef;
  side: 'server' | 'client';
  secured: boolean;
  clientIds: string[];
  serverIds: string[];
  stats: Golden;
}

/** GET /api/v1/events, event `mesh`. */
export interface MeshEvent {
  revision: number;
  timestamp: string;
  window: string;
  proxies: number;
  services: StatItem[];
  deployments: StatItem[];
  edges: EdgeItem[];
}

export type Role = 'admin' | 'reader';
