// The attempt layer of a route with `retries` and/or `hedge`: compiles the policy once per
// (route, cluster) (conditions, budget, metric series, hedging delay) and runs each request's
// tries through an AttemptExchange (attempts.ts). A route with neither gets no layer.
import { RetryBudget as RetryBudgetPolicy, RetryPolicy } from '../model/policy.ts';
import type { AttemptLayerFactory } from '../proxy/route-runtime.ts';
import { AttemptExchange, type AttemptPlan } from './attempts.ts';
import { HedgePlan } from './hedge.ts';
import { RetryBudget } from './retry-budget.ts';
import { RetryConditions } from './retry-conditions.ts';

/** Defaults of the model, for a route that hedges without a retry policy. */
const DEFAULT_RETRY = RetryPolicy.parse({});
const DEFAULT_BUDGET = RetryBudgetPolicy.parse({});

export const retryLayer: AttemptLayerFactory = (route, cluster, env) => {
  const retries = route.config.retries;
  const hedge = route.config.hedge;
  if (retries === undefined && hedge === undefined) return undefined;
  const labels = { route: route.name, cluster: cluster.name };
  const policy = retries ?? DEFAULT_RETRY;
  const shared: Omit<AttemptPlan, 'dispatch'> = {
    conditions: retries === undefined ? null : new RetryConditions(retries),
    maxRetries: retries?.attempts ?? 0,
    perTryTimeoutMs: retries?.perTryTimeout ?? 0,
    backoffBaseMs: policy.backoff.base,
    backoffMaxMs: Math.max(policy.backoff.base, policy.backoff.max),
    maxReplayBytes: policy.maxReplayBytes,
    budget: new RetryBudget(retries?.budget ?? DEFAULT_BUDGET),
    retries: env.stats.policy.retries.series(labels),
    exhausted: env.stats.policy.retryBudgetExhausted.series(labels),
    hedge: hedge === undefined ? null : new HedgePlan(hedge, env.stats.policy.hedges.series(labels)),
    random: Math.random,
    retryGate: cluster,
  };
  return (next) => {
    const plan: AttemptPlan = { ...shared, dispatch: next };
    return (req, body, handler) => new AttemptExchange(plan, req, body, handler).start();
  };
};
