// `npm run bench -- [scenario] [--quick] [--targets a,b] [--out file]`
// Scenario `proxy` (the default): each target behind the same upstream, measured in one run:
// saturation (wrk), open-loop latency at 1k and 5k req/s (bench/loadgen.ts), proxy CPU and RSS.
// Writes bench/results/latest.json and prints a markdown table. See bench/README.md.
// Scenario `control`: the control plane's goals (bench/control/), into results/control-latest.json.
// Scenario `resilience`: retries and outlier detection under faults (bench/resilience/), into
// results/resilience.json.
// Scenario `telemetry`: proxy CPU with telemetry off and full at 5k req/s (bench/telemetry/), into
// results/telemetry.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoadgenPinned, type LoadgenResult } from './loadgen.ts';
import { cpuSeconds, killAll, peakRssMb } from './proc.ts';
import { startUpstream, TARGETS, type RunningTarget, type Target } from './targets.ts';
import { runWrk } from './wrk.ts';
import { controlScenario } from './control/scenario.ts';
import { resilienceScenario } from './resilience/scenario.ts';
import { telemetryFromRun } from './telemetry/scenario.ts';
import { machineInfo, markdownTable, row, type Measured, type TargetRow } from './report.ts';

const PROXY_CORE = 0;
const PLACEMENT = 'proxy under test on core 0; wrk, loadgen and the upstream nginx on core 1';
const CLIENT_CORE = 1; // wrk, loadgen and the upstream
/** Above this p99 dispatch lag the generator, not the target, shaped the latency. */
const LAG_LIMIT_MS = 10;

interface Durations {
  /** Runs of the constant-rate generator (a second one only when the first lagged). */
  rateAttempts: number;
  warmS: number;
  wrkS: number;
  rateWarmS: number;
  rateS: number;
  limitS: number;
}
const FULL: Durations = { rateAttempts: 2, warmS: 3, wrkS: 10, rateWarmS: 2, rateS: 10, limitS: 900 };
const QUICK: Durations = { rateAttempts: 1, warmS: 1, wrkS: 3, rateWarmS: 0.5, rateS: 2.5, limitS: 240 };

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Trellis runs from its build (dist/), as users run it: build now so a bench never measures stale
 * code. tsc exits 2 when it wrote the build despite type errors (typecheck reports those).
 */
function buildTrellis(): void {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 2) throw new Error(`npm run build failed: ${r.stdout}${r.stderr}`);
}

const message = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');

/** Runs one step; a failure is recorded and the next steps still run. */
async function step<T>(m: Measured, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    m.errors.push(`${what}: ${message(err)}`);
    return undefined;
  }
}

/** More than 1% failed requests makes a measurement meaningless (e.g. a fast 503). */
function checkErrors(what: string, failed: number, total: number, detail = ''): void {
  if (failed > 0 && failed >= total * 0.01) {
    throw new Error(`${failed} of ${total} requests failed (${what}${detail})`);
  }
}

async function measure(t: RunningTarget, d: Durations): Promise<Measured> {
  const m: Measured = { errors: [], warnings: [] };
  const wrk = { url: t.url, threads: 1, connections: 64, core: CLIENT_CORE };
  await step(m, 'warm-up', () => runWrk({ ...wrk, durationS: d.warmS }));
  m.wrk = await step(m, 'saturation', async () => {
    const cpuBefore = cpuSeconds(t.pids);
    const r = await runWrk({ ...wrk, durationS: d.wrkS });
    checkErrors('wrk', r.errors, r.requests + r.errors);
    // Per request at saturation: what a proxy's own work costs, whatever else slowed the run.
    if (t.pids.length > 0 && r.requests > 0)
      m.satCpuUsPerReq = ((cpuSeconds(t.pids) - cpuBefore) / r.requests) * 1e6;
    return r;
  });
  // The generator shares core 1 with the upstream (and, on a shared machine, with whatever else
  // runs): when it could not keep its own schedule the run is repeated once (not with --quick).
  // CPU per 1k requests is measured over each whole 1k run (warm-up included) and kept with it.
  let cpuPer1k: number | undefined;
  const rate = async (rps: number): Promise<LoadgenResult> => {
    let best: LoadgenResult | undefined;
    for (
      let attempt = 0;
      attempt < d.rateAttempts && (!best || best.send_lag_p99_ms > LAG_LIMIT_MS);
      attempt++
    ) {
      const cpuBefore = cpuSeconds(t.pids);
      const r = await runLoadgenPinned(CLIENT_CORE, {
        url: t.url,
        rate: rps,
        durationS: d.rateS,
        warmupS: d.rateWarmS,
        connections: 64,
        drainS: 3,
      });
      const e = r.errors;
      checkErrors(
        `at ${rps} req/s`,
        e.socket + e.status + e.timeout,
        r.completed_total + e.socket + e.timeout,
        `: ${e.socket} socket errors, ${e.status} non-2xx, ${e.timeout} unanswered after the drain`,
      );
      if (!best || r.send_lag_p99_ms < best.send_lag_p99_ms) {
        best = r;
        cpuPer1k = ((cpuSeconds(t.pids) - cpuBefore) / r.completed_total) * 1000;
      }
    }
    if (best && best.send_lag_p99_ms > LAG_LIMIT_MS) {
      m.warnings.push(
        `at ${rps} req/s the generator lagged (p99 ${best.send_lag_p99_ms} ms): latency unreliable`,
      );
    }
    return best as LoadgenResult;
  };
  m.at1k = await step(m, '1k req/s', () => rate(1000));
  if (m.at1k && t.pids.length > 0) m.cpuSPer1k = cpuPer1k;
  m.at5k = await step(m, '5k req/s', () => rate(5000));
  if (t.pids.length > 0) m.rssMb = peakRssMb(t.pids);
  return m;
}

async function proxyScenario(opts: { quick: boolean; only?: string[]; out: string }): Promise<void> {
  const d = opts.quick ? QUICK : FULL;
  setTimeout(() => {
    process.stderr.write(`bench: time limit of ${d.limitS} s reached, stopping\n`);
    process.exit(124);
  }, d.limitS * 1000).unref();
  for (const tool of ['wrk', 'nginx', 'taskset']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is missing: run \`bash scripts/system-deps.sh bench\` as root`);
    }
  }
  const targets: Target[] = TARGETS.filter((t) => !opts.only || opts.only.includes(t.name));
  if (targets.some((t) => t.name.startsWith('trellis'))) buildTrellis();
  const tmp = mkdtempSync(join(tmpdir(), 'trellis-bench-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  if (opts.only && !opts.only.includes('direct')) {
    process.stderr.write('bench: without the direct target, added latency is null\n');
  }
  const upstream = await startUpstream(tmp, CLIENT_CORE);
  const measured = new Map<string, Measured>();
  const errors: Record<string, string> = {};
  const warnings: Record<string, string> = {};
  const loadavg_start = loadavg();
  try {
    for (const target of targets) {
      process.stderr.write(`bench: ${target.name} ...`);
      const started = Date.now();
      let running: RunningTarget | undefined;
      try {
        running = await target.start({ tmp, upstreamPort: upstream.port, proxyCore: PROXY_CORE });
        const m = await measure(running, d);
        measured.set(target.name, m);
        if (m.errors.length > 0) errors[target.name] = m.errors.join('; ');
        if (m.warnings.length > 0) warnings[target.name] = m.warnings.join('; ');
      } catch (err) {
        errors[target.name] = `failed to start: ${message(err)}`;
      } finally {
        await running?.stop();
      }
      const status = errors[target.name] ?? warnings[target.name] ?? 'ok';
      process.stderr.write(` ${((Date.now() - started) / 1000).toFixed(1)} s ${status}\n`);
    }
  } finally {
    await upstream.stop();
  }
  const direct = measured.get('direct');
  const rows: Record<string, TargetRow> = {};
  for (const t of targets) rows[t.name] = row(measured.get(t.name), direct, t.name === 'direct');
  const raw: Record<string, unknown> = {};
  const satCpuByTarget: Record<string, number | null> = {};
  for (const [name, m] of measured) {
    const satCpu = m.satCpuUsPerReq === undefined ? null : Number(m.satCpuUsPerReq.toFixed(2));
    satCpuByTarget[name] = satCpu === null ? null : Number(satCpu.toFixed(1));
    raw[name] = { wrk: m.wrk, at_1k: m.at1k, at_5k: m.at5k, sat_cpu_us_per_req: satCpu };
  }
  const meta = { ...machineInfo(), quick: opts.quick, durations_s: d, placement: PLACEMENT, loadavg_start };
  const result = { targets: rows, meta: { ...meta, loadavg_end: loadavg() }, errors, warnings, raw };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `\n${markdownTable(rows, errors, warnings, satCpuByTarget)}\n\nwritten to ${opts.out}\n`,
  );
}

const SCENARIOS: Record<string, typeof proxyScenario> = {
  proxy: proxyScenario,
  control: controlScenario,
  resilience: resilienceScenario,
  telemetry: telemetryFromRun,
};
/** Result file per scenario (default `<scenario>-latest.json`). */
const RESULT_FILES: Record<string, string> = {
  proxy: 'latest.json',
  resilience: 'resilience.json',
  telemetry: 'telemetry.json',
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      targets: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const name = positionals[0] ?? 'proxy';
  const scenario = SCENARIOS[name];
  if (values.help || !scenario) {
    const names = TARGETS.map((t) => t.name).join(',');
    process.stderr.write(
      `usage: npm run bench -- [${Object.keys(SCENARIOS).join('|')}] [--quick] [--targets ${names}] [--out FILE]\n`,
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const only = values.targets?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !TARGETS.some((t) => t.name === n)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown target(s): ${unknown.join(', ')}`);
  const file = RESULT_FILES[name] ?? `${name}-latest.json`;
  const out = values.out ?? join(fileURLToPath(new URL('.', import.meta.url)), 'results', file);
  await scenario({ quick: values.quick, only, out });
}

// Every process the bench started dies with it: normal end, error, Ctrl-C, SIGTERM.
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
process.on('SIGHUP', () => process.exit(129));
try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${message(err)}\n`);
  process.exitCode = 1;
}
process.exit();
