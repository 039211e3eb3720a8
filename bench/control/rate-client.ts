// The client app of the outage scenario, run under `trellis run` so it reaches the server the way
// any meshed app does: through $HTTP_PROXY, its sidecar's outbound listener, by service name.
// Open loop: request i is due at start + i/rate whatever the answers do, over keep-alive
// connections (undici Pool); its latency counts from that intended time, so a stall is charged to
// every request it delayed. After a warm-up at the same rate (not measured: JIT, connections),
// prints `{"type":"started",...}`, then one `{"type":"result",...}` line with every measured
// request's latency (or failure). SIGTERM ends the load early (a test that runs it until something
// is done): nothing is sent after it, and the result covers the requests sent until then.
//
//   trellis run --service client -- node bench/control/rate-client.ts --target http://server/
//       --rate 1000 --duration 90 [--warmup 3] [--connections 64]
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { z } from 'zod';

/** The `started` line: when measured request 0 is due, ms since the epoch. */
export const RateStarted = z.strictObject({ type: z.literal('started'), at: z.number() });

export const RateResult = z.strictObject({
  type: z.literal('result'),
  /** When measured request 0 was due (the end of the warm-up), ms since the epoch. */
  startedAt: z.number(),
  intervalMs: z.number().positive(),
  /** Per request, latency from its intended send time in ms; -1 when it failed. */
  latencies: z.array(z.number()),
  failures: z.array(z.strictObject({ i: z.number().int(), error: z.string() })),
  /** How late the generator itself dispatched, p99 in ms (timer granularity, own CPU). */
  sendLagP99Ms: z.number(),
  warmupFailures: z.number(),
});
export type RateResult = z.infer<typeof RateResult>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
    },
  });
  const proxy = process.env.HTTP_PROXY;
  if (values.target === undefined || proxy === undefined)
    throw new Error('--target and $HTTP_PROXY are needed');
  const target = new URL(values.target);
  const rate = Number(values.rate);
  const durationS = Number(values.duration);
  if (!(rate > 0 && rate <= 20_000 && durationS > 0 && durationS <= 600))
    throw new Error('bad --rate/--duration');
  const pool = new Pool(proxy, {
    connections: Number(values.connections),
    pipelining: 1,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    keepAliveTimeout: 60_000,
  });
  /** The status, with the proxy's own error code (x-trellis-error) when it answered itself. */
  const once = async (): Promise<{ status: number; proxyError: string }> => {
    const res = await pool.request({ method: 'GET', path: target.href, headers: { host: target.host } });
    await res.body.dump();
    const code = res.headers['x-trellis-error'];
    return { status: res.statusCode, proxyError: typeof code === 'string' ? ` ${code}` : '' };
  };
  // The sidecar serves once it has its first snapshot; wait (bounded) until the server answers.
  const readyBy = performance.now() + 30_000;
  while ((await once().catch(() => undefined))?.status !== 200) {
    if (performance.now() > readyBy) throw new Error(`${target.href} never answered 200 through ${proxy}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const intervalMs = 1000 / rate;
  const warm = Math.round(rate * Math.max(0, Math.min(60, Number(values.warmup) || 0)));
  let total = Math.round(rate * durationS);
  const latencies = new Array<number>(total).fill(-1);
  let stopRequested = false;
  process.once('SIGTERM', () => (stopRequested = true));
  let warmupFailures = 0;
  const failures: RateResult['failures'] = [];
  const failed = new Set<number>();
  const fail = (i: number, error: string): void => {
    failed.add(i);
    if (failures.length < 100_000) failures.push({ i, error });
  };
  const lags: number[] = [];
  let inFlight = 0;
  // Request k (warm-up ones first) is due at start + k * interval; measured request i is k - warm.
  const start = performance.now() + 5;
  const measuredFrom = start + warm * intervalMs;
  const fire = (k: number, intended: number): void => {
    const i = k - warm;
    inFlight++;
    once().then(
      ({ status, proxyError }) => {
        inFlight--;
        const ok = status >= 200 && status < 300;
        if (i < 0) warmupFailures += ok ? 0 : 1;
        else if (ok) latencies[i] = Math.round((performance.now() - intended) * 100) / 100;
        else fail(i, `status ${status}${proxyError}`);
      },
      (err: unknown) => {
        inFlight--;
        if (i < 0) warmupFailures++;
        else fail(i, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      },
    );
  };
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (next < warm + total && start + next * intervalMs <= now) {
        const intended = start + next * intervalMs;
        if (next === warm) {
          process.stdout.write(
            `${JSON.stringify({ type: 'started', at: performance.timeOrigin + measuredFrom })}\n`,
          );
        }
        if (next >= warm && next % 10 === 0) lags.push(now - intended);
        fire(next++, intended);
      }
      if (stopRequested && next < warm + total) {
        total = Math.max(0, next - warm);
        latencies.length = total;
      }
      if (next >= warm + total) resolve();
      else setTimeout(tick, Math.max(0, start + next * intervalMs - performance.now()));
    };
    tick();
  });
  const drainBy = performance.now() + 15_000;
  while (inFlight > 0 && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < total; i++)
    if (latencies[i] === -1 && !failed.has(i)) fail(i, 'no answer after the drain');
  lags.sort((a, b) => a - b);
  const result: RateResult = {
    type: 'result',
    startedAt: performance.timeOrigin + measuredFrom,
    intervalMs,
    latencies,
    failures,
    sendLagP99Ms: Math.round((lags[Math.floor(lags.length * 0.99)] ?? 0) * 100) / 100,
    warmupFailures,
  };
  await pool.close();
  // A pipe takes a big line in several writes: exit only once all of it is out.
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(result)}\n`, () => resolve()));
}

if (import.meta.main) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`rate-client: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
