// The compiled route table; see router.ts for the matching rules.
export {
  compileRouteTable,
  validateRouteTables,
  RouteCompileError,
  type MatchedRoute,
  type RouteInput,
  type RouteProblem,
  type Router,
} from './router.ts';
