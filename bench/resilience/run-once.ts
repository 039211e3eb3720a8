// One run of the resilience scenario: three upstream instances, one Trellis proxy in front, a
// constant open-loop load (bench/loadgen.ts) for `durationS` after a warm-up, and — when `faults`
// is set — the fault schedule played against the instances while the load runs:
//   20 % of the measured time: instance A is SIGKILLed      60 %: A restarts on the same port
//   40 %: instance B answers every request 200 ms late       80 %: B is fast again
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoadgenPinned, type LoadgenResult } from '../loadgen.ts';
import type { Variant } from './config.ts';
import { Instance, scrapeCounters, startProxy, type RunningProxy } from './processes.ts';
import type { UpstreamStats } from './upstream.ts';

export const SLOW_MS = 200;

export interface FaultEvent {
  /** Fraction of the measured time. */
  at: number;
  what: string;
  act: (a: Instance, b: Instance) => Promise<void>;
}

export const FAULTS: readonly FaultEvent[] = [
  { at: 0.2, what: 'A killed (SIGKILL)', act: (a) => a.kill() },
  { at: 0.4, what: `B slow (+${SLOW_MS} ms per response)`, act: (_a, b) => b.setDelay(SLOW_MS) },
  { at: 0.6, what: 'A restarted', act: (a) => a.start() },
  { at: 0.8, what: 'B fast again', act: (_a, b) => b.setDelay(0) },
];

export interface RunPlan {
  variant: Variant;
  faults: boolean;
  rate: number;
  warmupS: number;
  durationS: number;
  connections: number;
  drainS: number;
  proxyCore: number;
  clientCore: number;
}

/** What happened to one fault event: when it was done (s into the measured time), or why not. */
export interface EventRecord {
  what: string;
  planned_s: number;
  done_s: number | null;
  error?: string;
}

export interface RunResult {
  variant: Variant;
  faults: boolean;
  /** Requests due (rate × (warm-up + duration)), and how they failed as the client saw it. */
  sent: number;
  failed: number;
  /** failed / sent: non-2xx answers + connections lost with a request in flight + unanswered. */
  error_rate: number;
  errors: LoadgenResult['errors'];
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  send_lag_p99_ms: number;
  events: EventRecord[];
  /** The proxy's own counters over the run (sums over labels). */
  proxy: Record<string, number>;
  /** What each instance served (A: since its restart when it was killed). */
  instances: Record<string, UpstreamStats | null>;
}

const COUNTERS = [
  'trellis_requests_total',
  'trellis_retries_total',
  'trellis_hedges_total',
  'trellis_retry_budget_exhausted_total',
  'trellis_ejections_total',
  'trellis_upstream_connections_total',
] as const;

/** Plays the fault events at their times; stops (no further event) when `signal` aborts. */
async function playFaults(
  plan: RunPlan,
  measuredFrom: number,
  [a, b]: readonly Instance[],
  signal: AbortSignal,
  log: (s: string) => void,
): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  for (const e of FAULTS) {
    const planned = e.at * plan.durationS;
    try {
      await sleep(Math.max(0, measuredFrom + planned * 1000 - performance.now()), undefined, { signal });
    } catch {
      break; // aborted: the run ended early
    }
    const rec: EventRecord = { what: e.what, planned_s: planned, done_s: null };
    events.push(rec);
    try {
      await e.act(a!, b!);
      rec.done_s = round((performance.now() - measuredFrom) / 1000, 2);
      log(`  ${rec.done_s.toFixed(2)} s: ${e.what}`);
    } catch (err) {
      rec.error = err instanceof Error ? err.message : String(err);
      log(`  ${e.what} failed: ${rec.error}`);
    }
  }
  return events;
}

export async function runOnce(tmp: string, plan: RunPlan, log: (s: string) => void): Promise<RunResult> {
  const instances = ['A', 'B', 'C'].map((n) => new Instance(n, plan.clientCore));
  let proxy: RunningProxy | undefined;
  const stopFaults = new AbortController();
  let played: Promise<EventRecord[]> = Promise.resolve([]);
  try {
    for (const i of instances) await i.start();
    proxy = await startProxy(
      tmp,
      plan.proxyCore,
      plan.variant,
      instances.map((i) => i.port),
    );
    const before = await scrapeCounters(proxy.adminUrl, COUNTERS);
    const spawnedAt = performance.now();
    const load = runLoadgenPinned(plan.clientCore, {
      url: proxy.url,
      rate: plan.rate,
      durationS: plan.durationS,
      warmupS: plan.warmupS,
      connections: plan.connections,
      drainS: plan.drainS,
    });
    // The generator starts its clock once its connections are up (tens of ms after its spawn):
    // events are timed from the spawn, so they fall a little earlier in the measured time.
    const measuredFrom = spawnedAt + plan.warmupS * 1000;
    if (plan.faults) played = playFaults(plan, measuredFrom, instances, stopFaults.signal, log);
    const r = await load;
    const events = await played;
    const after = await scrapeCounters(proxy.adminUrl, COUNTERS);
    const proxyCounters: Record<string, number> = {};
    for (const n of COUNTERS) proxyCounters[n] = (after[n] ?? 0) - (before[n] ?? 0);
    const served: Record<string, UpstreamStats | null> = {};
    for (const i of instances) served[i.name] = await i.stats();
    const failed = r.errors.status + r.errors.socket + r.errors.timeout;
    const sent = r.completed_total + r.errors.socket + r.errors.timeout;
    return {
      variant: plan.variant,
      faults: plan.faults,
      sent,
      failed,
      error_rate: sent > 0 ? failed / sent : 1,
      errors: r.errors,
      p50_ms: r.p50_ms,
      p90_ms: r.p90_ms,
      p99_ms: r.p99_ms,
      p999_ms: r.p999_ms,
      max_ms: r.max_ms,
      send_lag_p99_ms: r.send_lag_p99_ms,
      events,
      proxy: proxyCounters,
      instances: served,
    };
  } finally {
    // No event may start an instance after this run: stop the schedule and wait for it.
    stopFaults.abort();
    await played.catch(() => []);
    await proxy?.stop();
    for (const i of instances) await i.kill();
  }
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
