// `npm run bench -- telemetry [--quick]`, or with its own knobs:
//   node bench/telemetry/scenario.ts [--rounds 8] [--rate 5000] [--duration 10] [--quick] [--out FILE]
//                                    [--variants off,full,metrics,tracing]
// The telemetry goal of issue 7: full telemetry (metrics on, tracing at 1 % sampling exported over
// OTLP/HTTP, access logs off) costs under 10 % of the proxy's CPU at 5,000 req/s. The same proxy
// config runs with telemetry off and full: two proxies, warmed up, then measured in alternating
// windows (off, full, then full, off, …) so machine noise hits both alike; every round starts with
// the direct baseline (the generator against the upstream). Prints tables and writes
// bench/results/telemetry.json.
// See bench/README.md, "Telemetry cost".
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadgenResult } from '../loadgen.ts';
import { killAll } from '../proc.ts';
import { machineInfo } from '../report.ts';
import { startUpstream } from '../targets.ts';
import { ALL_VARIANTS, SAMPLING_PERCENT, startOtlpSink, VARIANTS, type TelemetryVariant } from './config.ts';
import {
  load,
  measureWindow,
  startProxy,
  type RunningProxy,
  type WindowPlan,
  type WindowResult,
} from './run-once.ts';

const PROXY_CORE = 0;
const CLIENT_CORE = 1;
const PLACEMENT = 'proxy on core 0; load generator and the upstream nginx on core 1; OTLP sink in the bench';
/** Full telemetry may cost at most this share of the proxy's CPU (issue 7). */
const GOAL_OVERHEAD = 0.1;

export interface TelemetryOptions {
  rounds: number;
  rate: number;
  durationS: number;
  quick: boolean;
  out: string;
  /** Default off and full; `metrics` and `tracing` (each alone) split the cost of full. */
  variants?: readonly TelemetryVariant[];
}

/** warmS: unmeasured load through each proxy first (JIT, pools, the tracing SDK loaded). */
const FULL_PLAN = { warmS: 5, rateWarmS: 0.5, durationS: 10, scrapeS: 5, rounds: 8 };
const QUICK_PLAN = { warmS: 2, rateWarmS: 0.5, durationS: 4, scrapeS: 2, rounds: 3 };
/** More than this share of failed requests makes a window's figures meaningless. */
const MAX_FAILED = 0.01;

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fix = (x: number | null, digits = 3): number | null => (x === null ? null : Number(x.toFixed(digits)));
const log = (s: string): void => void process.stderr.write(`bench telemetry: ${s}\n`);
const message = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');

interface Summary {
  runs: number;
  cpu_us_per_req: number | null;
  user_us_per_req: number | null;
  cpu_cores: number | null;
  achieved_rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
}

/** What a summary reads of a run (the direct baseline has no proxy CPU). */
type Summarizable = Pick<LoadgenResult, 'achieved_rps' | 'p50_ms' | 'p99_ms'> &
  Partial<Pick<WindowResult, 'cpu_us_per_req' | 'user_us_per_req' | 'cpu_cores'>>;

function summarize(rs: Summarizable[]): Summary {
  const pick = (k: keyof Summarizable): number | null =>
    median(rs.map((r) => r[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x)));
  return {
    runs: rs.length,
    cpu_us_per_req: fix(pick('cpu_us_per_req'), 2),
    user_us_per_req: fix(pick('user_us_per_req'), 2),
    cpu_cores: fix(pick('cpu_cores')),
    achieved_rps: fix(pick('achieved_rps'), 0),
    p50_ms: fix(pick('p50_ms')),
    p99_ms: fix(pick('p99_ms')),
  };
}

export async function telemetryScenario(opts: TelemetryOptions): Promise<void> {
  const base = opts.quick ? QUICK_PLAN : FULL_PLAN;
  const plan: WindowPlan = {
    rate: opts.rate,
    rateWarmS: base.rateWarmS,
    durationS: opts.durationS,
    scrapeS: base.scrapeS,
    clientCore: CLIENT_CORE,
  };
  const windowS = plan.rateWarmS + plan.durationS + 10;
  const variants = opts.variants ?? VARIANTS;
  // Per round the direct baseline and one window per variant; each proxy starts and warms up once.
  const limitS = opts.rounds * (variants.length + 1) * windowS + variants.length * (base.warmS + 20) + 60;
  setTimeout(() => {
    log(`time limit of ${limitS} s reached, stopping`);
    process.exit(124);
  }, limitS * 1000).unref();
  const tmp = mkdtempSync(join(tmpdir(), 'trellis-bench-telemetry-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const loadavgStart = loadavg();
  const upstream = await startUpstream(tmp, CLIENT_CORE);
  const sink = await startOtlpSink();
  const proxies: RunningProxy[] = [];
  const runs: Array<WindowResult & { round: number }> = [];
  const direct: Array<LoadgenResult & { round: number }> = [];
  const errors: string[] = [];
  try {
    for (const v of variants) {
      const p = await startProxy(v, tmp, PROXY_CORE, upstream.port, sink);
      proxies.push(p);
      await load(p.url, plan, base.warmS);
    }
    for (let round = 1; round <= opts.rounds; round++) {
      const d = await load(upstream.url, plan);
      direct.push({ ...d, round });
      log(`round ${round} direct: p50 ${d.p50_ms} ms, p99 ${d.p99_ms} ms, lag p99 ${d.send_lag_p99_ms} ms`);
      const order = round % 2 === 1 ? proxies : [...proxies].reverse();
      for (const p of order) {
        const r = await measureWindow(p, sink, plan);
        runs.push({ ...r, round });
        const failed = r.errors.socket + r.errors.status + r.errors.timeout;
        if (failed > r.requests * MAX_FAILED)
          errors.push(`round ${round} ${p.variant}: ${failed} failed requests`);
        log(
          `round ${round} ${p.variant}: ${r.cpu_us_per_req.toFixed(1)} µs/req (user ${r.user_us_per_req.toFixed(1)}), ` +
            `${r.achieved_rps.toFixed(0)} req/s, p50 ${r.p50_ms} p99 ${r.p99_ms} ms, lag p99 ${r.send_lag_p99_ms} ms, ` +
            `spans ${r.spans}, edge requests ${r.edge_requests}`,
        );
      }
    }
  } catch (err) {
    errors.push(message(err));
    log(message(err));
  } finally {
    for (const p of proxies) await p.stop();
    await sink.close();
    await upstream.stop();
  }
  const summary: Record<string, Summary> = { direct: summarize(direct) };
  for (const v of variants) summary[v] = summarize(runs.filter((r) => r.variant === v));
  // Per round, full against the off run next to it: the spread the noise leaves.
  const paired: number[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    const off = runs.find((r) => r.round === round && r.variant === 'off');
    const full = runs.find((r) => r.round === round && r.variant === 'full');
    if (off && full) paired.push(full.cpu_us_per_req / off.cpu_us_per_req - 1);
  }
  const ratio = (k: 'cpu_us_per_req' | 'user_us_per_req', v = 'full'): number | null => {
    const [off, other] = [summary.off?.[k] ?? null, summary[v]?.[k] ?? null];
    return off !== null && other !== null ? other / off - 1 : null;
  };
  const overhead = ratio('cpu_us_per_req');
  // Every variant against off (medians): with `metrics` and `tracing` run, the parts of full.
  const vsOff: Record<string, { cpu: number | null; user: number | null }> = {};
  for (const v of variants) {
    if (v !== 'off')
      vsOff[v] = { cpu: fix(ratio('cpu_us_per_req', v), 4), user: fix(ratio('user_us_per_req', v), 4) };
  }
  const result = {
    goal: {
      max_overhead: GOAL_OVERHEAD,
      overhead_of_medians: fix(overhead, 4),
      /** The same on user-space CPU alone (the system part is socket work both variants do). */
      user_overhead_of_medians: fix(ratio('user_us_per_req'), 4),
      paired_overheads: paired.map((x) => fix(x, 4)),
      paired_median: fix(median(paired), 4),
      vs_off: vsOff,
      met: overhead === null ? null : overhead < GOAL_OVERHEAD,
    },
    summary,
    runs,
    direct,
    meta: {
      ...machineInfo(),
      rate: opts.rate,
      rounds: opts.rounds,
      plan,
      sampling_percent: SAMPLING_PERCENT,
      placement: PLACEMENT,
      loadavg_start: loadavgStart,
      loadavg_end: loadavg(),
    },
    errors,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${table(runs, summary, result.goal)}\n\nwritten to ${opts.out}\n`);
}

function table(
  runs: Array<WindowResult & { round: number }>,
  summary: Record<string, Summary>,
  goal: {
    overhead_of_medians: number | null;
    user_overhead_of_medians: number | null;
    paired_overheads: (number | null)[];
    paired_median: number | null;
    vs_off: Record<string, { cpu: number | null; user: number | null }>;
  },
): string {
  const lines = [
    '| round | telemetry | req/s | CPU µs/req | user µs/req | CPU cores | p50 ms | p99 ms | p99.9 ms | lag p99 ms | spans (share) |',
    '| ----: | --------- | ----: | ---------: | ----------: | --------: | -----: | -----: | -------: | ---------: | ------------: |',
  ];
  for (const r of runs) {
    lines.push(
      `| ${r.round} | ${r.variant} | ${r.achieved_rps.toFixed(0)} | ${r.cpu_us_per_req.toFixed(1)} | ${r.user_us_per_req.toFixed(1)} | ` +
        `${r.cpu_cores.toFixed(3)} | ${r.p50_ms} | ${r.p99_ms} | ${r.p999_ms} | ${r.send_lag_p99_ms} | ` +
        `${r.spans} (${(r.span_share * 100).toFixed(2)} %) |`,
    );
  }
  lines.push('', '| median of | runs | req/s | CPU µs/req | user µs/req | CPU cores | p50 ms | p99 ms |');
  lines.push('| --------- | ---: | ----: | ---------: | ----------: | --------: | -----: | -----: |');
  for (const [name, s] of Object.entries(summary)) {
    const cell = (x: number | null): string => (x === null ? '—' : String(x));
    lines.push(
      `| ${name} | ${s.runs} | ${cell(s.achieved_rps)} | ${cell(s.cpu_us_per_req)} | ${cell(s.user_us_per_req)} | ${cell(s.cpu_cores)} | ` +
        `${cell(s.p50_ms)} | ${cell(s.p99_ms)} |`,
    );
  }
  const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
  lines.push(
    '',
    `full vs off, CPU per request: ${pct(goal.overhead_of_medians)} (medians; user CPU only ` +
      `${pct(goal.user_overhead_of_medians)}); per round: ${goal.paired_overheads.map(pct).join(', ')} ` +
      `(median ${pct(goal.paired_median)}); goal < ${GOAL_OVERHEAD * 100} %`,
  );
  for (const [v, o] of Object.entries(goal.vs_off)) {
    if (v !== 'full') lines.push(`${v} vs off: CPU ${pct(o.cpu)}, user CPU ${pct(o.user)} (medians)`);
  }
  return lines.join('\n');
}

const DEFAULT_OUT = fileURLToPath(new URL('../results/telemetry.json', import.meta.url));

/** bench/run.ts's entry: its --quick and --out, the plan's defaults for the rest. */
export function telemetryFromRun(opts: { quick: boolean; out: string }): Promise<void> {
  const base = opts.quick ? QUICK_PLAN : FULL_PLAN;
  return telemetryScenario({ ...opts, rounds: base.rounds, rate: 5000, durationS: base.durationS });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      rate: { type: 'string', default: '5000' },
      duration: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: DEFAULT_OUT },
      variants: { type: 'string', default: VARIANTS.join(',') },
    },
  });
  const base = values.quick ? QUICK_PLAN : FULL_PLAN;
  const num = (v: string | undefined, fallback: number): number => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
    return n;
  };
  const variants = values.variants.split(',').map((v) => {
    const known = ALL_VARIANTS.find((k) => k === v.trim());
    if (known === undefined) throw new Error(`unknown variant ${v}; known: ${ALL_VARIANTS.join(', ')}`);
    return known;
  });
  process.on('exit', killAll);
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  try {
    await telemetryScenario({
      rounds: num(values.rounds, base.rounds),
      rate: num(values.rate, 5000),
      durationS: num(values.duration, base.durationS),
      quick: values.quick,
      out: values.out,
      variants,
    });
  } catch (err) {
    log(message(err));
    process.exitCode = 1;
  }
  process.exit();
}
