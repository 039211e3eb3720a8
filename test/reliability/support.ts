// Shared pieces of the reliability scenarios: a real control plane, real `trellis run` workloads
// (the bench's tiny app server) and a meshed open-loop load — the bench's rate client
// (bench/control/rate-client.ts) run as the app of a `client` workload, so every request goes
// app → client sidecar → server sidecar (mTLS) → server app. Every scenario counts the requests that
// failed (socket error, non-2xx, 10 s timeout) and asserts there were none.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { RateResult, RateStarted } from '../../bench/control/rate-client.ts';
import { memoryOf } from '../../bench/control/procs.ts';
import { summarize } from '../../bench/control/stats.ts';
import type { ControlApi } from '../../bench/control/trellis.ts';
import { listWorkloads } from '../mesh/client.ts';
import {
  adminTokenFor,
  run,
  Scope,
  up,
  waitUntil,
  type ControlPlaneProcess,
  type Proc,
  type WorkloadProcess,
} from '../mesh/harness.ts';

const APP = fileURLToPath(new URL('../../bench/control/app-server.ts', import.meta.url));
const RATE_CLIENT = fileURLToPath(new URL('../../bench/control/rate-client.ts', import.meta.url));

/** Requests per second of every scenario: enough to matter, light enough for a 2-core CI machine. */
export const RATE = 200;

export interface Mesh {
  scope: Scope;
  /** The control plane in force (scenario 1 replaces it). */
  cp: ControlPlaneProcess;
  api: ControlApi;
}

/** `trellis up` on a fresh dir, with extra flags (e.g. --cert-ttl). */
export async function startMesh(t: TestContext, flags: string[] = []): Promise<Mesh> {
  const scope = await Scope.create(t);
  const cp = await up(scope, { dir: 'cp', flags });
  const token = adminTokenFor(cp.url);
  assert.ok(token !== undefined, 'the control plane wrote its admin token');
  return { scope, cp, api: { url: cp.url, token } };
}

/** One instance of `service`: `trellis run --service SERVICE -- node app-server.ts SERVICE`. */
export function startApp(mesh: Mesh, service: string): Promise<WorkloadProcess> {
  return run(mesh.scope, mesh.cp.url, { service, app: [process.execPath, APP, service] });
}

/** Waits until the registry lists every named workload with its app ready. */
export async function waitWorkloadsReady(mesh: Mesh, names: string[], timeoutMs = 30_000): Promise<void> {
  await waitUntil(
    `workloads ready: ${names.join(', ')}`,
    async () => {
      const items = await listWorkloads(mesh.cp.url);
      return names.every((n) => items.some((w) => w.metadata.name === n && w.spec.ready)) ? true : undefined;
    },
    timeoutMs,
    100,
  );
}

const ConfigDump = z.object({
  version: z.string(),
  config: z.object({
    clusters: z.array(
      z.object({
        name: z.string(),
        endpoints: z.array(z.object({ port: z.number(), healthy: z.boolean().optional() })).default([]),
      }),
    ),
    routeTables: z.array(z.unknown()).default([]),
  }),
});
export type ConfigDump = z.infer<typeof ConfigDump>;

/** A sidecar's /config_dump (its admin port). */
export async function configDump(adminPort: number): Promise<ConfigDump> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/config_dump`, { signal: AbortSignal.timeout(5000) });
  return ConfigDump.parse(await res.json());
}

/** Inbound ports of the healthy endpoints a caller's sidecar holds for `service` (default namespace). */
export async function healthyEndpoints(callerAdmin: number, service: string): Promise<number[]> {
  const dump = await configDump(callerAdmin);
  const cluster = dump.config.clusters.find((c) => c.name === `outbound:${service}.default`);
  return (cluster?.endpoints ?? []).filter((e) => e.healthy !== false).map((e) => e.port);
}

/** A sidecar's request counters (trellis_edge_requests_total) whose response code is not 2xx: what failed, where. */
export async function failedEdges(adminPort: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('trellis_edge_requests_total{') && !/response_code="2\d\d"/.test(l));
}

/** A running load: the client workload, when measured request 0 was due, and its result to come. */
export interface Load {
  client: WorkloadProcess;
  /** Epoch ms when the measured window began (after the warm-up). */
  startedAt: number;
  durationS: number;
  result: Promise<RateResult>;
  /**
   * Ends the load now: SIGTERM to the client's `trellis run` (its sidecar leaves the mesh, then the
   * generator stops sending and reports what it sent).
   */
  stop(): Promise<RateResult>;
}

/** The first line of the process's stdout that starts with `prefix`, parsed; fails if the process ends first. */
async function stdoutLine<T>(proc: Proc, prefix: string, parse: (line: string) => T, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  const find = (): T | undefined => {
    const line = proc.stdout.split('\n').find((l) => l.startsWith(prefix) && l.endsWith('}'));
    return line === undefined ? undefined : parse(line);
  };
  while (Date.now() < deadline) {
    const v = find();
    if (v !== undefined) return v;
    if (!proc.running) {
      // Gone: read what it printed last, then give up.
      await Promise.race([proc.closed, sleep(2000)]);
      const last = find();
      if (last !== undefined) return last;
      throw new Error(`the load client exited before "${prefix}":\n${proc.stderr.slice(-3000)}`);
    }
    await sleep(100);
  }
  throw new Error(`no "${prefix}" from the load client within ${timeoutMs} ms`);
}

/**
 * Starts `RATE` req/s of GET `target` for `durationS` seconds at most (after a warm-up at the same
 * rate), open loop: a stall is charged to every request it delays. Resolves once the measured
 * window began.
 */
export async function startLoad(mesh: Mesh, target: string, durationS: number, warmupS = 3): Promise<Load> {
  const args = ['--target', target, '--rate', String(RATE), '--duration', String(durationS)];
  args.push('--warmup', String(warmupS), '--connections', '16');
  const client = await run(mesh.scope, mesh.cp.url, {
    service: 'client',
    app: [process.execPath, RATE_CLIENT, ...args],
  });
  const started = (line: string) => RateStarted.parse(JSON.parse(line)).at;
  const startedAt = await stdoutLine(client.proc, '{"type":"started"', started, 60_000);
  const result = stdoutLine(
    client.proc,
    '{"type":"result"',
    (line) => RateResult.parse(JSON.parse(line)),
    (durationS + 60) * 1000,
  );
  result.catch(() => {}); // awaited by the scenario; an early failure must not go unhandled
  const stop = (): Promise<RateResult> => {
    client.proc.signal('SIGTERM');
    return result;
  };
  return { client, startedAt, durationS, result, stop };
}

/** What a scenario reports of its load. */
export interface LoadFigures {
  /** Length of the measured window. */
  seconds: number;
  requests: number;
  failed: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  warmup_failed: number;
  /** A few failures: when (s into the measured window) and why. */
  failure_samples: { at_s: number; error: string }[];
}

export function loadFigures(r: RateResult): LoadFigures {
  const latency = summarize(r.latencies.filter((ms) => ms >= 0));
  return {
    seconds: Number(((r.latencies.length * r.intervalMs) / 1000).toFixed(1)),
    requests: r.latencies.length,
    failed: r.failures.length,
    p50_ms: latency.p50_ms,
    p99_ms: latency.p99_ms,
    max_ms: latency.max_ms,
    warmup_failed: r.warmupFailures,
    failure_samples: r.failures.slice(0, 5).map((f) => ({
      at_s: Number(((f.i * r.intervalMs) / 1000).toFixed(3)),
      error: f.error,
    })),
  };
}

/** Every measured request (and every warm-up one) succeeded. */
export function assertNoFailures(f: LoadFigures): void {
  assert.equal(f.failed, 0, `failed requests: ${JSON.stringify(f.failure_samples)}`);
  assert.equal(f.warmup_failed, 0, 'failed requests during the warm-up');
  assert.ok(f.requests > 0);
}

/** Prints the figures into the test report (`# label: {...}`). */
export function note(t: TestContext, label: string, figures: object): void {
  t.diagnostic(`${label}: ${JSON.stringify(figures)}`);
}

/** VmRSS of one process, MB. */
export function rssMb(pid: number): number {
  return memoryOf(pid).rssMb;
}

/** Sleeps until `epochMs` (at once if it is past). */
export async function sleepUntil(epochMs: number): Promise<void> {
  const ms = epochMs - Date.now();
  if (ms > 0) await sleep(ms);
}

/** Seconds since `fromEpochMs`, two decimals. */
export function secondsSince(fromEpochMs: number): number {
  return Number(((Date.now() - fromEpochMs) / 1000).toFixed(2));
}

/** How many log lines of `proc` say `msg`. */
export function countLogs(proc: Proc, msg: string, pid?: number): number {
  return proc.logs().filter((l) => l.msg === msg && (pid === undefined || l.pid === pid)).length;
}
