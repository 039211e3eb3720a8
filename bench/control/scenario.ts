// `npm run bench -- control [--quick]`: the control-plane goals of issue 4, measured on real
// `trellis up` / `trellis sidecar` / `trellis run` processes — propagation (100 proxies), scale
// (1,000 services, 2,000 proxies) and a control-plane outage under 1,000 req/s. Prints a markdown
// table and writes bench/results/control-latest.json. See bench/README.md, "Control plane".
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { machineInfo } from '../report.ts';
import { runOutage, type OutageResult, type OutageTimes } from './outage.ts';
import { runPropagation, type PropagationResult } from './propagation.ts';
import { runScale, type ScaleResult } from './scale.ts';
import { trellisEntry } from './trellis.ts';

interface Plan {
  changes: number;
  proxies: number;
  fullPushes: number;
  outage: OutageTimes;
  limitS: number;
}
const FULL: Plan = {
  changes: 20,
  proxies: 2000,
  fullPushes: 3,
  outage: { totalS: 90, killAtS: 10, downS: 60 },
  limitS: 1500,
};
const QUICK: Plan = {
  changes: 5,
  proxies: 2000,
  fullPushes: 1,
  outage: { totalS: 40, killAtS: 10, downS: 10 },
  limitS: 1000,
};
/** The control plane gets core 0 to itself (as far as this bench goes); its clients run on core 1. */
const CONTROL_CORE = 0;
const OTHERS_CORE = 1;
const PLACEMENT =
  'propagation and scale: trellis up on core 0, sidecars / simulated proxies on core 1; outage: nothing pinned';

/** The what-if of the scale run: `trellis up` with V8's young generation capped (see README). */
const YOUNG_CAP = ['--max-semi-space-size=16'];

export interface ControlResults {
  propagation: PropagationResult | null;
  scale: ScaleResult | null;
  /** The same with `node --max-semi-space-size=16 bin/trellis.js up`. */
  scale_young16: ScaleResult | null;
  outage: OutageResult | null;
  meta: Record<string, unknown>;
  errors: Record<string, string>;
}

const message = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
const log = (s: string): void => void process.stderr.write(`bench control: ${s}\n`);

export async function controlScenario(opts: { quick: boolean; out: string }): Promise<void> {
  const plan = opts.quick ? QUICK : FULL;
  setTimeout(() => {
    log(`time limit of ${plan.limitS} s reached, stopping`);
    process.exit(124);
  }, plan.limitS * 1000).unref();
  const tmp = mkdtempSync(join(tmpdir(), 'trellis-bench-control-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const errors: Record<string, string> = {};
  const step = async <T>(name: string, fn: (dir: string) => Promise<T>): Promise<T | null> => {
    const started = Date.now();
    log(`${name} ...`);
    const dir = join(tmp, name);
    mkdirSync(dir);
    try {
      return await fn(dir);
    } catch (err) {
      errors[name] = message(err);
      return null;
    } finally {
      log(
        `${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s${errors[name] ? `: ${errors[name]}` : ''}`,
      );
    }
  };
  const cores = { controlCore: CONTROL_CORE, othersCore: OTHERS_CORE, log };
  const loadavgStart = loadavg();
  const entry = trellisEntry();
  const propagation = await step('propagation', (dir) =>
    runPropagation(dir, { ...cores, changes: plan.changes }),
  );
  const scale = await step('scale', (dir) =>
    runScale(dir, { ...cores, proxies: plan.proxies, pushes: plan.fullPushes }),
  );
  const scaleYoung16 = await step('scale_young16', (dir) =>
    runScale(dir, { ...cores, proxies: plan.proxies, pushes: plan.fullPushes, nodeArgs: YOUNG_CAP }),
  );
  const outage = await step('outage', (dir) =>
    runOutage(dir, plan.outage, { controlCore: undefined, othersCore: undefined, log }),
  );
  const { date, cpu, cores: ncores, kernel, node } = machineInfo();
  const results: ControlResults = {
    propagation,
    scale,
    scale_young16: scaleYoung16,
    outage,
    meta: {
      date,
      cpu,
      cores: ncores,
      kernel,
      node,
      quick: opts.quick,
      plan,
      placement: PLACEMENT,
      /** What bin/trellis.js ran: the dist/ build or the sources (type stripping). */
      trellis_entry: entry,
      loadavg_start: loadavgStart,
      loadavg_end: loadavg(),
    },
    errors,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${controlTable(results)}\n\nwritten to ${opts.out}\n`);
}

const ms = (v: number | null | undefined): string =>
  v === null || v === undefined ? '—' : `${Math.round(v)}`;

/** The table printed and pasted into bench/README.md. */
export function controlTable(r: ControlResults): string {
  const rows: [string, string, string, string][] = [];
  const p = r.propagation;
  if (p !== null) {
    const what = `${p.proxies.measured_per_change} proxies × ${p.changes} changes`;
    rows.push([
      'propagation',
      `apply → enforced, p50 / p99 / max (${what})`,
      `${ms(p.all.p50_ms)} / ${ms(p.all.p99_ms)} / ${ms(p.all.max_ms)} ms`,
      'p99 < 1000 ms',
    ]);
    rows.push([
      '',
      `real sidecars (${p.real.n / p.changes}, by traffic through them), p50 / p99`,
      `${ms(p.real.p50_ms)} / ${ms(p.real.p99_ms)} ms`,
      '',
    ]);
    rows.push([
      '',
      `simulated (${p.simulated.n / p.changes}, by ACK), p50 / p99`,
      `${ms(p.simulated.p50_ms)} / ${ms(p.simulated.p99_ms)} ms`,
      '',
    ]);
    rows.push(['', 'not converged within 10 s; NACKs', `${p.not_converged}; ${p.nacked}`, '0; 0']);
    rows.push([
      '',
      'first change after start (warm-up, not above), slowest proxy',
      `${p.warmup_change_max_ms} ms`,
      '',
    ]);
  }
  for (const [name, s] of [
    ['scale', r.scale],
    [`scale, ${YOUNG_CAP.join(' ')}`, r.scale_young16],
  ] as const) {
    if (s === null) continue;
    const pushes = s.full_pushes;
    rows.push([
      name,
      `control-plane RSS, ${s.connected} proxies / ${s.services} services connected (VmRSS, VmHWM)`,
      `${s.memory_connected.rssMb}, ${s.memory_connected.hwmMb} MB`,
      '< 300 MB',
    ]);
    rows.push([
      '',
      `RSS after ${pushes.length} full push(es) (VmRSS, VmHWM)`,
      `${s.memory_after_pushes.rssMb}, ${s.memory_after_pushes.hwmMb} MB`,
      '< 300 MB',
    ]);
    rows.push([
      '',
      `full push (${s.snapshot_kb} KB per proxy): apply → last ACK; control plane's push; its CPU`,
      `${pushes.map((x) => ms(x.total_ms)).join(', ')} ms; ${pushes.map((x) => ms(x.control_ms)).join(', ')} ms; ` +
        `${pushes.map((x) => x.control_cpu_s).join(', ')} s`,
      '',
    ]);
    rows.push([
      '',
      'all connected / settled; streams dropped (and reconnected)',
      `${s.connect_s} / ${s.settle_s} s; ${s.dropped}`,
      '',
    ]);
  }
  const o = r.outage;
  if (o !== null) {
    rows.push([
      'outage',
      `failed requests at ${o.rate} req/s, before / during (${o.down_s} s down) / after`,
      `${o.before.failed} / ${o.during.failed} / ${o.after.failed} (of ${o.requests})`,
      '0',
    ]);
    rows.push([
      '',
      'p99 latency before / during / after',
      `${o.before.latency.p99_ms} / ${o.during.latency.p99_ms} / ${o.after.latency.p99_ms} ms`,
      '',
    ]);
    rows.push([
      '',
      'restart → both proxies reconnected and ACKing',
      o.reconnect_s === null ? '—' : `${o.reconnect_s} s`,
      '',
    ]);
  }
  const lines = ['| scenario | measure | result | goal |', '| --- | --- | ---: | --- |'];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  for (const [name, e] of Object.entries(r.errors)) lines.push('', `⚠ ${name}: ${e}`);
  return lines.join('\n');
}
