// Scale: one real `trellis up` with 2,000 connected proxies over 1,000 services. The proxies are
// simulated in two child processes (their memory is not the control plane's); each registers its
// own workload, so the 1,000 services (2 endpoints each, over 10 namespaces) exist the way they
// would in a mesh: by registration. Measured: the control plane's RSS once everyone is connected
// and after full pushes, and how long a full push takes (apply → the last proxy's ACK).
import { cpuSeconds } from '../proc.ts';
import { memoryOf, nowMs, round, sleep, type Memory } from './procs.ts';
import { Fleet, type FleetReply } from './sim-fleet.ts';
import { summarize, type Summary } from './stats.ts';
import { apiApply, revisionOf, startControlPlane, trafficRoute, type ControlProcess } from './trellis.ts';

const SERVICES = 1000;
const NAMESPACES = 10;
const FLEETS = 2;
const SETTLE_MS = 180_000;
const PUSH_BOUND_MS = 180_000;

export interface FullPush {
  /** Apply start → the last of all proxies ACKed the change. */
  total_ms: number;
  /** Apply start → ACK, per proxy. */
  per_proxy: Summary;
  /** The control plane's own measure of its push (its `pushed` log). */
  control_ms: number | null;
  /** CPU seconds the control plane used, apply to last ACK. */
  control_cpu_s: number;
  acked: number;
}

export interface ScaleResult {
  /** How `trellis up` ran: `node [flags] bin/trellis.js up`. */
  node_flags: string[];
  services: number;
  namespaces: number;
  proxies: number;
  connected: number;
  /** First hello → all streams welcomed. */
  connect_s: number;
  /** First hello → no more pushes and every proxy has its snapshot. */
  settle_s: number;
  snapshot_kb: number;
  memory_connected: Memory;
  full_pushes: FullPush[];
  memory_after_pushes: Memory;
  dropped: number;
  drop_reasons: string[];
  goal_rss_mb: number;
}

async function queryAll(fleets: Fleet[], minVersion: number, since: number): Promise<FleetReply[]> {
  return Promise.all(fleets.map((f) => f.query(minVersion, since)));
}

/** Waits until the control plane has pushed nothing for `quietMs` and every proxy ACKed something. */
async function settle(cp: ControlProcess, fleets: Fleet[], total: number, quietMs: number): Promise<void> {
  const deadline = nowMs() + SETTLE_MS;
  while (nowMs() < deadline) {
    const last = cp.pushes.at(-1)?.at ?? 0;
    const replies = await queryAll(fleets, 0, 0);
    const acked = replies.reduce((n, r) => n + r.ackTimes.length, 0);
    const open = replies.reduce((n, r) => n + r.open, 0);
    if (acked === total && open === total && nowMs() - last > quietMs) return;
    await sleep(250);
  }
  throw new Error(`the control plane did not settle within ${SETTLE_MS} ms`);
}

export async function runScale(
  tmp: string,
  opts: {
    proxies: number;
    pushes: number;
    controlCore: number;
    othersCore: number;
    log: (s: string) => void;
    /** Node flags for `trellis up` (e.g. a smaller young generation). */
    nodeArgs?: string[];
  },
): Promise<ScaleResult> {
  const fleets: Fleet[] = [];
  let cp: ControlProcess | undefined;
  try {
    cp = await startControlPlane(tmp, 0, opts.controlCore, opts.nodeArgs);
    const pid = cp.proc.pid;
    const began = nowMs();
    const per = Math.ceil(opts.proxies / FLEETS);
    const progress = setInterval(() => {
      opts.log(`connecting: ${fleets.reduce((n, f) => n + f.connected, 0)} of ${opts.proxies}`);
    }, 10_000);
    const started = await Promise.all(
      Array.from({ length: FLEETS }, (_, k) =>
        Fleet.start(
          {
            controlUrl: cp!.url,
            adminToken: cp!.token,
            from: k * per,
            count: Math.min(per, opts.proxies - k * per),
            services: SERVICES,
            namespaces: NAMESPACES,
            concurrency: 25,
          },
          opts.othersCore,
          SETTLE_MS,
          (f) => fleets.push(f),
        ),
      ),
    ).finally(() => clearInterval(progress));
    const connected = started.reduce((n, [, r]) => n + r.connected, 0);
    const connectS = (nowMs() - began) / 1000;
    opts.log(`${connected} proxies connected in ${connectS.toFixed(1)} s`);
    if (connected < opts.proxies)
      throw new Error(`only ${connected} connected: ${started[0]?.[1].failed.join('; ')}`);
    await settle(cp, fleets, connected, 2000);
    const settleS = (nowMs() - began) / 1000;
    const memoryConnected = memoryOf(pid);
    opts.log(`settled after ${settleS.toFixed(1)} s, control plane RSS ${memoryConnected.rssMb} MB`);

    const pushes: FullPush[] = [];
    for (let k = 1; k <= opts.pushes; k++) {
      const before = await revisionOf(cp);
      const logged = cp.pushes.length;
      const cpu0 = cpuSeconds([pid]);
      const t0 = nowMs();
      // svc0 is called by every proxy (default scope: all): its route changes every snapshot.
      await apiApply(cp, trafficRoute('svc0', 'ns0', { svc0: 100 - k, svc10: k }));
      const deadline = t0 + PUSH_BOUND_MS;
      let replies = await queryAll(fleets, before + 1, t0);
      while (replies.reduce((n, r) => n + r.ackTimes.length, 0) < connected && nowMs() < deadline) {
        await sleep(100);
        replies = await queryAll(fleets, before + 1, t0);
      }
      const times = replies.flatMap((r) => r.ackTimes.map((at) => at - t0));
      const push: FullPush = {
        total_ms: round(Math.max(...times), 1),
        per_proxy: summarize(times),
        control_ms: cp.pushes.slice(logged).find((p) => p.revision > before)?.ms ?? null,
        control_cpu_s: round(cpuSeconds([pid]) - cpu0, 2),
        acked: times.length,
      };
      if (push.control_ms !== null) push.control_ms = round(push.control_ms, 1);
      pushes.push(push);
      opts.log(`full push ${k}/${opts.pushes}: ${push.acked} proxies in ${push.total_ms} ms`);
      await settle(cp, fleets, connected, 1000);
    }
    const memoryAfter = memoryOf(pid);
    const last = await queryAll(fleets, 0, 0);
    return {
      node_flags: opts.nodeArgs ?? [],
      services: SERVICES,
      namespaces: NAMESPACES,
      proxies: opts.proxies,
      connected,
      connect_s: round(connectS, 1),
      settle_s: round(settleS, 1),
      snapshot_kb: round(Math.max(...last.map((r) => r.maxBytes)) / 1024, 1),
      memory_connected: memoryConnected,
      full_pushes: pushes,
      memory_after_pushes: memoryAfter,
      dropped: last.reduce((n, r) => n + r.dropped, 0),
      drop_reasons: last.flatMap((r) => r.dropReasons).slice(0, 5),
      goal_rss_mb: 300,
    };
  } finally {
    await Promise.all(fleets.map((f) => f.stop()));
    await cp?.proc.kill();
  }
}
