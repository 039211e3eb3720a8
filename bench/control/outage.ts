// Static stability: the control plane is SIGKILLed under 1,000 req/s of meshed traffic and
// restarted on the same directory and port a while later. A real `trellis up`, two real
// `trellis run` workloads — `server` (a tiny HTTP app) and `client`, whose app is the constant-rate
// generator (bench/control/rate-client.ts) calling http://server/ through its sidecar — and the
// count of failed requests before, during and after the outage (the goal is none).
import { fileURLToPath } from 'node:url';
import { nowMs, round, sleep, waitForLine, type Child } from './procs.ts';
import { z } from 'zod';
import { RateResult, RateStarted } from './rate-client.ts';
import { summarize, type Summary } from './stats.ts';
import {
  apiGet,
  proxyStatus,
  startControlPlane,
  startRun,
  type ControlApi,
  type ControlProcess,
} from './trellis.ts';

const APP = fileURLToPath(new URL('./app-server.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('./rate-client.ts', import.meta.url));
const RATE = 1000;

export interface OutageTimes {
  /** Seconds of load in all. */
  totalS: number;
  /** When the control plane is killed, seconds after the load started. */
  killAtS: number;
  /** How long it stays down. */
  downS: number;
}

interface Phase {
  requests: number;
  failed: number;
  latency: Summary;
  /** When the slowest request of the phase was due, seconds after the load started. */
  slowest_at_s: number | null;
}

export interface OutageResult {
  rate: number;
  total_s: number;
  kill_at_s: number;
  down_s: number;
  requests: number;
  failed: number;
  /** A few of the failures: when (s after the load started) and why. */
  failure_samples: { at_s: number; error: string }[];
  before: Phase;
  during: Phase;
  after: Phase;
  /** Restart → both proxies connected again and ACKing (read from /api/v1/proxies). */
  reconnect_s: number | null;
  /** How late the generator dispatched, p99 (its own lag, not the mesh's). */
  send_lag_p99_ms: number;
  /** Failures in the generator's warm-up (before the measured window; should be 0 too). */
  warmup_failed: number;
}

/** The part of GET /api/v1/services/NS/NAME read here. */
const ServiceEndpoints = z.object({ endpoints: z.array(z.object({ ready: z.boolean() })) });

async function waitReady(control: ControlApi, service: string, timeoutMs: number): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    const body = await apiGet(control, `/api/v1/services/default/${service}`).catch(() => undefined);
    const d = ServiceEndpoints.safeParse(body);
    if (d.success && d.data.endpoints.some((e) => e.ready)) return;
    await sleep(200);
  }
  throw new Error(`service ${service} has no ready endpoint after ${timeoutMs} ms`);
}

async function waitReconnected(control: ControlApi, proxies: number, timeoutMs: number): Promise<boolean> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    const rows = await proxyStatus(control).catch(() => []);
    if (rows.length >= proxies && rows.every((r) => r.acked !== undefined)) return true;
    await sleep(100);
  }
  return false;
}

function phase(r: RateResult, from: number, to: number): Phase {
  const latencies: number[] = [];
  let requests = 0;
  let slowest = -1;
  for (let i = 0; i < r.latencies.length; i++) {
    const at = r.startedAt + i * r.intervalMs;
    if (at < from || at >= to) continue;
    requests++;
    const ms = r.latencies[i]!;
    if (ms < 0) continue;
    latencies.push(ms);
    if (slowest < 0 || ms > r.latencies[slowest]!) slowest = i;
  }
  const failed = r.failures.filter((f) => {
    const at = r.startedAt + f.i * r.intervalMs;
    return at >= from && at < to;
  }).length;
  const slowestAt = slowest < 0 ? null : round((slowest * r.intervalMs) / 1000, 3);
  return { requests, failed, latency: summarize(latencies), slowest_at_s: slowestAt };
}

export async function runOutage(
  tmp: string,
  times: OutageTimes,
  opts: { controlCore: number | undefined; othersCore: number | undefined; log: (s: string) => void },
): Promise<OutageResult> {
  const children: Child[] = [];
  let cp: ControlProcess | undefined;
  try {
    cp = await startControlPlane(tmp, 0, opts.controlCore);
    const port = cp.port;
    children.push(startRun(cp, 'server', [process.execPath, APP, 'server'], opts.othersCore));
    await waitReady(cp, 'server', 60_000);
    const args = [
      '--target',
      'http://server/',
      '--rate',
      String(RATE),
      '--duration',
      String(times.totalS),
      '--warmup',
      '5',
    ];
    const client = startRun(cp, 'client', [process.execPath, CLIENT, ...args], opts.othersCore);
    children.push(client);
    const result = waitForLine(client, 'rate client', (times.totalS + 90) * 1000, (line) =>
      line.startsWith('{"type":"result"') ? RateResult.parse(JSON.parse(line)) : undefined,
    );
    result.catch(() => {}); // awaited below; do not let an early failure go unhandled
    const startedAt = await waitForLine(client, 'rate client start', 90_000, (line) =>
      line.startsWith('{"type":"started"') ? RateStarted.parse(JSON.parse(line)).at : undefined,
    );
    opts.log(`load running; control plane SIGKILL in ${times.killAtS} s`);

    await sleep(startedAt + times.killAtS * 1000 - nowMs());
    const killedAt = nowMs();
    await cp.proc.kill();
    opts.log(`control plane killed; restart in ${times.downS} s`);
    await sleep(killedAt + times.downS * 1000 - nowMs());
    const restartedAt = nowMs();
    cp = await startControlPlane(tmp, port, opts.controlCore);
    const reconnected = await waitReconnected(cp, 2, 30_000);
    const reconnectS = reconnected ? round((nowMs() - restartedAt) / 1000, 2) : null;
    opts.log(
      `control plane restarted; proxies back ${reconnectS === null ? 'not within 30 s' : `in ${reconnectS} s`}`,
    );

    const r = await result;
    const end = Infinity;
    return {
      rate: RATE,
      total_s: times.totalS,
      kill_at_s: round((killedAt - r.startedAt) / 1000, 2),
      down_s: round((restartedAt - killedAt) / 1000, 2),
      requests: r.latencies.length,
      failed: r.failures.length,
      failure_samples: r.failures
        .slice(0, 10)
        .map((f) => ({ at_s: round((f.i * r.intervalMs) / 1000, 3), error: f.error })),
      before: phase(r, -Infinity, killedAt),
      during: phase(r, killedAt, restartedAt),
      after: phase(r, restartedAt, end),
      reconnect_s: reconnectS,
      send_lag_p99_ms: r.sendLagP99Ms,
      warmup_failed: r.warmupFailures,
    };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await cp?.proc.kill();
  }
}
