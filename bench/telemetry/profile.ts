// `node bench/telemetry/profile.ts [--variant full|off] [--rate 5000] [--duration 15] [--keep DIR]`
// The telemetry scenario's cost read from the proxy's own CPU profile, which machine noise barely
// moves (noise slows every function alike; the shares stay): the proxy (`full` by default) runs
// under `--cpu-prof` at the rate, and its samples are summed by where the code lives: tracing (the
// proxy's src/tracing and the OpenTelemetry SDK), metrics (src/metrics, the edge reporter,
// prom-client and the admin endpoint serving the scrapes), and the rest. Shares are of the
// profiled main thread's busy time (idle excluded); prom-client's default process and GC metrics
// count as metrics in both variants, so compare with `--variant off`. Same placement and config as
// the scenario.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { z } from 'zod';
import { runLoadgenPinned } from '../loadgen.ts';
import { killAll, spawnPinned, stop } from '../proc.ts';
import { httpGet } from '../resilience/processes.ts';
import { freePort, startUpstream } from '../targets.ts';
import { startOtlpSink, telemetryConfig } from './config.ts';

const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));
const PROXY_CORE = 0;
const CLIENT_CORE = 1;

const CpuProfile = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      hitCount: z.number().default(0),
      callFrame: z.object({ functionName: z.string(), url: z.string() }),
    }),
  ),
  startTime: z.number(),
  endTime: z.number(),
});

export type Category = 'tracing' | 'metrics' | 'gc' | 'idle' | 'other';

/** Where a profiled function belongs, by its script URL (and V8's pseudo-frames by name). */
export function categorize(functionName: string, url: string): Category {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (/\/src\/tracing\/|@opentelemetry\//.test(url)) return 'tracing';
  if (/\/src\/metrics\/|\/src\/proxy\/edge-metrics|\/src\/admin\/|\/prom-client\//.test(url))
    return 'metrics';
  return 'other';
}

/** Samples per category of a .cpuprofile, and the shares of busy (non-idle) samples. */
export function profileShares(text: string): {
  samples: Record<Category, number>;
  busyShare: Record<string, number>;
} {
  const p = CpuProfile.parse(JSON.parse(text));
  const samples: Record<Category, number> = { tracing: 0, metrics: 0, gc: 0, idle: 0, other: 0 };
  for (const n of p.nodes) samples[categorize(n.callFrame.functionName, n.callFrame.url)] += n.hitCount;
  const busy = samples.tracing + samples.metrics + samples.gc + samples.other;
  const share = (x: number): number => (busy > 0 ? Number((x / busy).toFixed(4)) : 0);
  return {
    samples,
    busyShare: { tracing: share(samples.tracing), metrics: share(samples.metrics), gc: share(samples.gc) },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', default: 'full' },
      rate: { type: 'string', default: '5000' },
      duration: { type: 'string', default: '15' },
      keep: { type: 'string' },
    },
  });
  const variant = values.variant === 'off' ? 'off' : 'full';
  const rate = Number(values.rate);
  const durationS = Number(values.duration);
  const tmp = values.keep ?? mkdtempSync(join(tmpdir(), 'trellis-bench-telemetry-prof-'));
  mkdirSync(tmp, { recursive: true });
  if (values.keep === undefined) process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const upstream = await startUpstream(tmp, CLIENT_CORE);
  const sink = await startOtlpSink();
  try {
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = join(tmp, `${variant}.yaml`);
    const otlpEndpoint = sink.url;
    writeFileSync(
      file,
      stringify(telemetryConfig(variant, { port, adminPort, upstreamPort: upstream.port, otlpEndpoint })),
    );
    const profDir = join(tmp, `prof-${variant}`);
    // NODE_OPTIONS survives bin/trellis.js's re-exec with its V8 flags; the profile is written at exit.
    const env = {
      ...process.env,
      TRELLIS_ENTRY: 'src',
      NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}`,
    };
    const proxy = spawnPinned(PROXY_CORE, process.execPath, [TRELLIS_BIN, 'proxy', '--config', file], env);
    const url = `http://127.0.0.1:${port}/`;
    for (let i = 0; i < 100 && (await httpGet(url, 1000)).status !== 200; i++) await sleep(100);
    const o = { url, rate, warmupS: 0, connections: 64, drainS: 3 };
    await runLoadgenPinned(CLIENT_CORE, { ...o, durationS: 5 });
    const scraper = setInterval(() => void httpGet(`http://127.0.0.1:${adminPort}/metrics`), 5000);
    const r = await runLoadgenPinned(CLIENT_CORE, { ...o, durationS }).finally(() => clearInterval(scraper));
    proxy.child.kill('SIGTERM'); // drains (at most the config's drainTimeout), exits, writes the profile
    await Promise.race([proxy.exited, sleep(15_000)]);
    await stop(proxy);
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) throw new Error(`no profile written in ${profDir}`);
    // bin/trellis.js re-execs itself: the PID stays, but the first Node wrote a (tiny) profile too.
    const profiles = files.map((f) => profileShares(readFileSync(join(profDir, f), 'utf8')));
    const main = profiles.reduce((a, b) => (busy(b) > busy(a) ? b : a));
    process.stdout.write(
      `${JSON.stringify({ variant, rate, duration_s: durationS, achieved_rps: r.achieved_rps, spans: sink.counts().spans, ...main })}\n`,
    );
  } finally {
    await sink.close();
    await upstream.stop();
  }
}

const busy = (p: ReturnType<typeof profileShares>): number =>
  p.samples.tracing + p.samples.metrics + p.samples.other;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (import.meta.main) {
  process.on('exit', killAll);
  process.on('SIGINT', () => process.exit(130));
  try {
    await main();
  } catch (err) {
    process.stderr.write(`profile: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  process.exit();
}
