// The route matcher's public shapes. See router.ts for the matching rules.
import type { Route } from '../model/schema.ts';
import type { HeaderList } from '../proxy/types.ts';

export interface RouteInput {
  /** host[:port], any case. */
  authority: string;
  /** Origin-form target including any ?query. */
  path: string;
  method: string;
  headers: HeaderList;
}

export interface MatchedRoute {
  /** The route's name, or `${virtualHost}/${index}` when it has none. */
  readonly name: string;
  readonly virtualHost: string;
  /** Whole-request timeout in milliseconds; 0 = none. */
  readonly timeoutMs: number;
  readonly config: Route;
  /** Weighted choice among backends with weight > 0; undefined when every weight is 0. */
  pickCluster(): string | undefined;
}

export interface Router {
  match(input: RouteInput): MatchedRoute | undefined;
  /** Every route of the table, in table order (the objects match() returns). */
  readonly routes: readonly MatchedRoute[];
}

export interface RouteProblem {
  /** Path inside the config, e.g. ['routeTables', 0, 'virtualHosts', 1, 'routes', 2, 'match', 'path', 'regex']. */
  path: (string | number)[];
  message: string;
}
