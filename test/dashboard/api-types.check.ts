// The dashboard (web/) cannot import server modules that pull in Node, so web/src/types.ts mirrors
// some response shapes. This file is typechecked with the server (`npm run typecheck`): each line
// fails to compile if what the server sends no longer fits what the dashboard reads.
import type * as Web from '../../web/src/types.ts';
import type { MeshEvent } from '../../src/control/api-events.ts';
import type { SecurityEdgesResponse } from '../../src/control/api-security-edges.ts';
import type { WarningsResponse } from '../../src/control/api-warnings.ts';
import type { CaView } from '../../src/control/api-identity.ts';
import type { SecurityCheck } from '../../src/control/api-identity-checks.ts';
import type { ServiceDescription } from '../../src/control/describe.ts';
import type { ResourceDiff } from '../../src/control/history.ts';
import type { ProxyStatus } from '../../src/control/push-session.ts';
import type { EdgeItem, RoutesResponse, StatItem } from '../../src/control/stats/api-stats.ts';
import type { SeriesResponse } from '../../src/control/stats/api-series.ts';

/** true when a server value of type S can be read as the dashboard's W. */
type Fits<S, W> = [S] extends [W] ? true : false;

export const checks: true[] = [
  true satisfies Fits<StatItem, Web.StatItem>,
  true satisfies Fits<EdgeItem, Web.EdgeItem>,
  true satisfies Fits<MeshEvent, Web.MeshEvent>,
  true satisfies Fits<SeriesResponse, Web.SeriesResponse>,
  true satisfies Fits<RoutesResponse, Web.RoutesResponse>,
  true satisfies Fits<SecurityEdgesResponse, Web.SecurityEdgesResponse>,
  true satisfies Fits<WarningsResponse, Web.WarningsResponse>,
  true satisfies Fits<CaView, Web.CaView>,
  true satisfies Fits<SecurityCheck, Web.SecurityCheck>,
  true satisfies Fits<ResourceDiff, Web.ResourceDiff>,
  true satisfies Fits<ProxyStatus, Web.ProxyStatus>,
  true satisfies Fits<
    Omit<ServiceDescription, 'route' | 'policy'>,
    Omit<Web.ServiceDescription, 'route' | 'policy'>
  >,
];
