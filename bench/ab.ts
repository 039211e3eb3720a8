// `node bench/ab.ts --variant 'name=node [flags] ENTRY' --variant ... [--rounds 3]`
// A/B of Trellis launch variants (build, V8 flags, code changes in two trees) in one run, on a
// machine others share: the variants take turns round by round, so noise hits them alike, and
// the medians over rounds are compared. Per variant and round: idle RSS, saturation req/s and
// proxy CPU µs per request under wrk, p50/p99 and CPU s per 1k requests at 1,000 (and 5,000)
// req/s, peak RSS. Same placement as bench/run.ts: proxy on core 0, the rest on core 1.
// `ENTRY proxy --config FILE` is appended to each variant's command; `node` is this Node.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoadgenPinned, type LoadgenResult } from './loadgen.ts';
import { cpuSeconds, killAll, peakRssMb, spawnPinned, stop } from './proc.ts';
import { freePort, startUpstream, trellisConfig } from './targets.ts';
import { runWrk } from './wrk.ts';

const PROXY_CORE = 0;
const CLIENT_CORE = 1;

interface Variant {
  name: string;
  cmd: string;
  args: string[];
}

interface Sample {
  idle_rss_mb: number;
  rps: number;
  /** Proxy CPU per request at saturation: robust to noise that only slows everything down. */
  sat_cpu_us_per_req: number;
  p50_ms_at_1k: number;
  p99_ms_at_1k: number;
  cpu_s_per_1k: number;
  p99_ms_at_5k: number | null;
  peak_rss_mb: number;
}

function parseVariant(text: string): Variant {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`--variant wants name=command, got ${text}`);
  const words = text
    .slice(eq + 1)
    .trim()
    .split(/\s+/);
  const cmd = words[0] === 'node' ? process.execPath : words[0]!;
  return { name: text.slice(0, eq), cmd, args: words.slice(1) };
}

const rssMb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function waitReady(url: string, exited: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !exited(); i++) {
    const ok = await fetch(url)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready`);
}

async function rate(url: string, rps: number, s: number): Promise<LoadgenResult> {
  const o = { url, rate: rps, durationS: s, warmupS: 0.5, connections: 64, drainS: 3 };
  return runLoadgenPinned(CLIENT_CORE, o);
}

async function measure(
  v: Variant,
  tmp: string,
  upstreamPort: number,
  o: { wrkS: number; rateS: number; at5k: boolean },
): Promise<Sample> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(tmp, `${v.name}.json`);
  writeFileSync(
    file,
    JSON.stringify(trellisConfig({ port, adminPort, direction: 'outbound', upstreamPort })),
  );
  const p = spawnPinned(PROXY_CORE, v.cmd, [...v.args, 'proxy', '--config', file]);
  let gone = false;
  void p.exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitReady(url, () => gone);
    await new Promise((r) => setTimeout(r, 300));
    const idle = rssMb(p.pid);
    const wrk = { url, threads: 1, connections: 64, core: CLIENT_CORE };
    await runWrk({ ...wrk, durationS: 1 });
    const c0 = cpuSeconds([p.pid]);
    const sat = await runWrk({ ...wrk, durationS: o.wrkS });
    const c1 = cpuSeconds([p.pid]);
    const r1 = await rate(url, 1000, o.rateS);
    const c2 = cpuSeconds([p.pid]);
    const r5 = o.at5k ? await rate(url, 5000, o.rateS) : null;
    return {
      idle_rss_mb: idle,
      rps: sat.rps,
      sat_cpu_us_per_req: ((c1 - c0) / sat.requests) * 1e6,
      p50_ms_at_1k: r1.p50_ms,
      p99_ms_at_1k: r1.p99_ms,
      cpu_s_per_1k: ((c2 - c1) / r1.completed_total) * 1000,
      p99_ms_at_5k: r5?.p99_ms ?? null,
      peak_rss_mb: peakRssMb([p.pid]),
    };
  } catch (err) {
    throw new Error(`${v.name}: ${err instanceof Error ? err.message : String(err)} ${p.output()}`, {
      cause: err,
    });
  } finally {
    await stop(p);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', multiple: true, default: [] },
      rounds: { type: 'string', default: '3' },
      wrk: { type: 'string', default: '3' },
      rate: { type: 'string', default: '3' },
      '5k': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const variants = values.variant.map(parseVariant);
  if (variants.length === 0) throw new Error("usage: node bench/ab.ts --variant 'name=node ENTRY' ...");
  const o = { wrkS: Number(values.wrk), rateS: Number(values.rate), at5k: values['5k'] };
  const tmp = mkdtempSync(join(tmpdir(), 'trellis-ab-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const upstream = await startUpstream(tmp, CLIENT_CORE);
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
  const direct: { p50: number[]; p99: number[]; p99at5k: number[] } = { p50: [], p99: [], p99at5k: [] };
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      const d1 = await rate(upstream.url, 1000, o.rateS);
      direct.p50.push(d1.p50_ms);
      direct.p99.push(d1.p99_ms);
      if (o.at5k) direct.p99at5k.push((await rate(upstream.url, 5000, o.rateS)).p99_ms);
      // Alternate the order too, so no variant always runs first in a round.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const s = await measure(v, tmp, upstream.port, o);
        samples.get(v.name)!.push(s);
        process.stderr.write(`round ${round + 1} ${v.name}: ${JSON.stringify(s)}\n`);
      }
    }
  } finally {
    await upstream.stop();
  }
  const keys = Object.keys(samples.values().next().value![0]!) as (keyof Sample)[];
  const table = [`| variant | ${keys.join(' | ')} |`, `| --- |${' ---: |'.repeat(keys.length)}`];
  const result: Record<string, Record<string, number | null>> = {};
  for (const v of variants) {
    const ss = samples.get(v.name)!;
    const row: Record<string, number | null> = {};
    for (const k of keys) {
      const xs = ss.map((s) => s[k]).filter((x): x is number => x !== null);
      row[k] = xs.length > 0 ? Number(median(xs).toFixed(k.startsWith('p') ? 3 : 2)) : null;
    }
    result[v.name] = row;
    table.push(`| ${v.name} | ${keys.map((k) => row[k] ?? '—').join(' | ')} |`);
  }
  const baseline = { p50_ms_at_1k: median(direct.p50), p99_ms_at_1k: median(direct.p99) };
  const at5k = direct.p99at5k.length > 0 ? median(direct.p99at5k) : null;
  process.stdout.write(
    `${table.join('\n')}\n\nmedians of ${values.rounds} rounds; direct: p50@1k ${baseline.p50_ms_at_1k} ms, ` +
      `p99@1k ${baseline.p99_ms_at_1k} ms${at5k === null ? '' : `, p99@5k ${at5k} ms`}\n`,
  );
  if (values.out) {
    writeFileSync(
      values.out,
      JSON.stringify(
        { variants: result, direct: { ...baseline, at5k }, samples: Object.fromEntries(samples) },
        null,
        2,
      ),
    );
  }
}

process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
try {
  await main();
} catch (err) {
  process.stderr.write(`ab: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
process.exit();
