// The proxies of the telemetry scenario and one measured window. Both variants run as long-lived
// proxies side by side (the one not under load idles at ~0 CPU), so the windows can alternate
// often: off, full, full, off, … Per window: the proxy's CPU (user and system, from /proc), the
// latency the open-loop generator saw, the spans the OTLP sink received and what the proxy's
// /metrics counted.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { runLoadgenPinned, type LoadgenResult } from '../loadgen.ts';
import { CLK_TCK, spawnPinned, stop } from '../proc.ts';
import { httpGet, sumCounters } from '../resilience/processes.ts';
import { freePort } from '../targets.ts';
import { telemetryConfig, type OtlpSink, type TelemetryVariant } from './config.ts';

const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));
const START_LIMIT_MS = 10_000;
const CONNECTIONS = 64;
const DRAIN_S = 3;
/** After the load: the last span batch (flushInterval 1 s) is exported within the CPU window. */
const SETTLE_MS = 1200;

export interface WindowPlan {
  rate: number;
  /** The generator's own warm-up (latency not recorded; CPU and requests counted). */
  rateWarmS: number;
  durationS: number;
  /** /metrics of the loaded proxy is scraped this often, in both variants. */
  scrapeS: number;
  clientCore: number;
}

export interface WindowResult {
  variant: TelemetryVariant;
  achieved_rps: number;
  /** Responses of the window, the generator's warm-up included (what the CPU is divided by). */
  requests: number;
  cpu_s: number;
  cpu_us_per_req: number;
  /** User-space part: where the telemetry code runs (the system part is the same socket work). */
  user_us_per_req: number;
  /** The proxy's CPU at the rate, in cores (CPU per request × rate; 1 = one core busy). */
  cpu_cores: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  send_lag_p99_ms: number;
  errors: LoadgenResult['errors'];
  /** Spans the sink received in the window, and per request (expected ≈ 1 %). */
  spans: number;
  span_share: number;
  /** Increase of trellis_edge_requests_total over the window (0 with metrics off). */
  edge_requests: number;
}

export interface RunningProxy {
  variant: TelemetryVariant;
  url: string;
  adminUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * `node bin/trellis.js proxy --config FILE` pinned to `core`, from the sources as they are
 * (TRELLIS_ENTRY=src, as the resilience scenario: dist/ is shared with other runs). Ready once a
 * GET through it reaches the upstream.
 */
export async function startProxy(
  variant: TelemetryVariant,
  tmp: string,
  core: number,
  upstreamPort: number,
  sink: OtlpSink,
): Promise<RunningProxy> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(tmp, `telemetry-${variant}.yaml`);
  writeFileSync(
    file,
    stringify(telemetryConfig(variant, { port, adminPort, upstreamPort, otlpEndpoint: sink.url })),
  );
  const env = { ...process.env, TRELLIS_ENTRY: 'src' };
  const proc = spawnPinned(core, process.execPath, [TRELLIS_BIN, 'proxy', '--config', file], env);
  const url = `http://127.0.0.1:${port}/`;
  let gone = false;
  void proc.exited.then(() => (gone = true));
  const deadline = performance.now() + START_LIMIT_MS;
  while (!gone && performance.now() < deadline) {
    if ((await httpGet(url, 1000)).status === 200) {
      const adminUrl = `http://127.0.0.1:${adminPort}`;
      return { variant, url, adminUrl, pid: proc.pid, stop: () => stop(proc) };
    }
    await sleep(100);
  }
  await stop(proc);
  const why = gone ? 'exited during start-up' : `not ready after ${START_LIMIT_MS} ms`;
  throw new Error(`proxy ${variant} ${why}: ${proc.output().trim().slice(-600)}`);
}

/** The generator at the plan's rate against `url` (a proxy, or the upstream for the baseline). */
export function load(url: string, plan: WindowPlan, durationS = plan.durationS): Promise<LoadgenResult> {
  return runLoadgenPinned(plan.clientCore, {
    url,
    rate: plan.rate,
    durationS,
    warmupS: plan.rateWarmS,
    connections: CONNECTIONS,
    drainS: DRAIN_S,
  });
}

/** utime and stime of one process, in seconds (the proxy starts no children). */
function cpuOf(pid: number): { user: number; system: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name's last ')': rest[11] is utime (field 14), rest[12] stime (15).
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) / CLK_TCK, system: Number(rest[12]) / CLK_TCK };
}

async function edgeRequests(adminUrl: string): Promise<number> {
  const page = await httpGet(`${adminUrl}/metrics`);
  const sums = sumCounters(page.status === 200 ? page.body : '', ['trellis_edge_requests_total']);
  return sums.trellis_edge_requests_total ?? 0;
}

/** One measured window of load through `p`. */
export async function measureWindow(
  p: RunningProxy,
  sink: OtlpSink,
  plan: WindowPlan,
): Promise<WindowResult> {
  const edge0 = await edgeRequests(p.adminUrl);
  await sleep(SETTLE_MS); // the previous window's last span batch leaves before the count starts
  sink.reset();
  const scraper = setInterval(() => void httpGet(`${p.adminUrl}/metrics`), plan.scrapeS * 1000);
  const cpu0 = cpuOf(p.pid);
  const r = await load(p.url, plan).finally(() => clearInterval(scraper));
  await sleep(SETTLE_MS);
  const cpu1 = cpuOf(p.pid);
  const spans = sink.counts().spans;
  const n = r.completed_total;
  const user = cpu1.user - cpu0.user;
  const total = user + cpu1.system - cpu0.system;
  return {
    variant: p.variant,
    achieved_rps: r.achieved_rps,
    requests: n,
    cpu_s: total,
    cpu_us_per_req: n > 0 ? (total / n) * 1e6 : NaN,
    user_us_per_req: n > 0 ? (user / n) * 1e6 : NaN,
    cpu_cores: n > 0 ? (total / n) * plan.rate : NaN,
    p50_ms: r.p50_ms,
    p90_ms: r.p90_ms,
    p99_ms: r.p99_ms,
    p999_ms: r.p999_ms,
    max_ms: r.max_ms,
    send_lag_p99_ms: r.send_lag_p99_ms,
    errors: r.errors,
    spans,
    span_share: n > 0 ? spans / n : 0,
    // The scrapes of this window are GETs of the admin port: not edge requests.
    edge_requests: (await edgeRequests(p.adminUrl)) - edge0,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
