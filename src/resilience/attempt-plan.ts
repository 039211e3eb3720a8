// What the tries of one request share, compiled once per (route, cluster) by retry.ts.
import type { Series } from '../metrics/policy-stats.ts';
import type { Dispatch } from '../proxy/types.ts';
import type { HedgePlan } from './hedge.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { RetryConditions } from './retry-conditions.ts';

/** Everything a request's tries share, compiled once per (route, cluster). */
export interface AttemptPlan {
  /** The rest of the stack: the next attempt layer, or the cluster. */
  readonly dispatch: Dispatch;
  /** null: no retries (hedging only). */
  readonly conditions: RetryConditions | null;
  readonly maxRetries: number;
  /** 0: no per-try timeout. */
  readonly perTryTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly maxReplayBytes: number;
  readonly budget: RetryBudget;
  /** trellis_retries_total and trellis_retry_budget_exhausted_total of this (route, cluster). */
  readonly retries: Series;
  readonly exhausted: Series;
  readonly hedge: HedgePlan | null;
  readonly random: () => number;
  /**
   * The cluster's maxConcurrentRetries gate (ClusterRuntime.tryStartRetry/endRetry): a retry
   * holds one slot from when it is scheduled until its request ends.
   */
  readonly retryGate: { tryStartRetry(): boolean; endRetry(): void };
}
