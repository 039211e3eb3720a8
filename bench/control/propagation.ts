// Propagation: how long after `POST /api/v1/apply` each of 100 proxies enforces the change.
// A real `trellis up`; 12 real sidecars (`blue` and `green` in front of their apps, and 10 callers)
// and 88 simulated proxies in this process. The change flips a TrafficRoute of service `switch`
// between `blue` and `green`. A real caller has enforced it when a request through its outbound
// port comes back from the new service (probed every PROBE_GAP_MS); a simulated proxy when it
// ACKs a snapshot whose `switch` route points at the new service.
import http from 'node:http';
import { z } from 'zod';
import { startAppServer, type AppServer } from './app-server.ts';
import { JoinTokenCache } from './join-tokens.ts';
import { nowMs, sleep } from './procs.ts';
import { SimProxy, simRegistration } from './sim-proxy.ts';
import { summarize, type Summary } from './stats.ts';
import {
  apiApply,
  proxyStatus,
  startControlPlane,
  startSidecar,
  trafficRoute,
  type ControlProcess,
  type SidecarProcess,
} from './trellis.ts';

const PROXIES = 100;
const REAL_CALLERS = 10;
const SIM_SERVICES = 44;
const PROBE_GAP_MS = 10;
/** A proxy that has not enforced a change by then counts as not converged. */
const CONVERGE_MS = 10_000;
const TARGETS = ['blue', 'green'] as const;

export interface PropagationResult {
  proxies: { total: number; real_sidecars: number; simulated: number; measured_per_change: number };
  changes: number;
  /** The first change after start (not in the percentiles): sidecars' reload path still cold. */
  warmup_change_max_ms: number;
  /** Apply start → change enforced, per proxy and change. */
  all: Summary;
  real: Summary;
  simulated: Summary;
  /** The POST /api/v1/apply round trip alone. */
  apply_ms: Summary;
  /** The control plane's own push durations (its `pushed` log), for these changes. */
  control_push_ms: Summary;
  not_converged: number;
  nacked: number;
  probe_gap_ms: number;
  goal_p99_ms: number;
}

const SWITCH_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: switch
  namespace: default
spec:
  ports:
    - port: 80
`;

/** The part of a snapshot message `switchTarget` reads (other fields pass unchecked). */
const SnapshotRoutes = z.object({
  config: z.object({
    routeTables: z.array(
      z.object({
        name: z.string(),
        virtualHosts: z.array(
          z.object({
            name: z.string(),
            routes: z.array(z.object({ backends: z.array(z.object({ cluster: z.string() })) })),
          }),
        ),
      }),
    ),
  }),
});

/** Which of blue/green the `switch` route of a snapshot sends to. */
export function switchTarget(text: string): string | undefined {
  const msg = SnapshotRoutes.safeParse(JSON.parse(text));
  if (!msg.success) return undefined;
  const table = msg.data.config.routeTables.find((t) => t.name === 'outbound');
  const cluster = table?.virtualHosts.find((v) => v.name === 'switch.default')?.routes[0]?.backends[0]
    ?.cluster;
  return cluster === undefined ? undefined : /^outbound:([^.]+)\./.exec(cluster)?.[1];
}

function probe(agent: http.Agent, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', headers: { host: 'switch' }, agent, timeout: 2000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 ? body : `status ${res.statusCode}`));
        res.on('error', () => resolve('error'));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`error ${e.message}`));
  });
}

/** When a request through the caller's outbound port first came back from `target`. */
async function probeUntil(
  agent: http.Agent,
  port: number,
  target: string,
  deadline: number,
): Promise<number | undefined> {
  while (nowMs() < deadline) {
    if ((await probe(agent, port)) === target) return nowMs();
    await sleep(PROBE_GAP_MS);
  }
  return undefined;
}

async function simsUntil(
  sims: SimProxy[],
  since: number,
  target: string,
  deadline: number,
): Promise<(number | undefined)[]> {
  const seen = (s: SimProxy): number | undefined => s.firstSince(since, (r) => r.marker === target);
  while (nowMs() < deadline && !sims.every((s) => seen(s) !== undefined)) await sleep(5);
  return sims.map(seen);
}

export async function runPropagation(
  tmp: string,
  opts: { changes: number; controlCore: number; othersCore: number; log: (s: string) => void },
): Promise<PropagationResult> {
  const apps: AppServer[] = [];
  const sidecars: SidecarProcess[] = [];
  const sims: SimProxy[] = [];
  const agents: http.Agent[] = [];
  let cp: ControlProcess | undefined;
  try {
    cp = await startControlPlane(tmp, 0, opts.controlCore);
    const url = cp.url;
    await apiApply(cp, `${SWITCH_SERVICE}---\n${trafficRoute('switch', 'default', { blue: 1 })}`);

    const services = [...TARGETS, ...Array.from({ length: REAL_CALLERS }, (_, i) => `caller${i}`)];
    for (const name of services) apps.push(await startAppServer(name));
    opts.log(`starting ${services.length} sidecars`);
    // Pushed as each comes up, so a failure still leaves the others to be stopped below.
    await Promise.all(
      services.map(async (name, i) =>
        sidecars.push(await startSidecar(cp!, name, apps[i]!.port, opts.othersCore)),
      ),
    );
    const callers = sidecars.filter((s) => s.name.startsWith('caller'));

    const simCount = PROXIES - sidecars.length;
    const joinTokens = new JoinTokenCache(cp);
    for (let i = 0; i < simCount; i++) {
      const reg = simRegistration(i, `sim${i % SIM_SERVICES}`, 'default');
      sims.push(new SimProxy({ controlUrl: url, registration: reg, inspect: switchTarget, joinTokens }));
    }
    for (let i = 0; i < sims.length; i += 20)
      await Promise.all(sims.slice(i, i + 20).map((s) => s.connect()));
    for (const _ of callers) agents.push(new http.Agent({ keepAlive: true, maxSockets: 1 }));

    // Everyone on `blue` first.
    const settleBy = nowMs() + CONVERGE_MS;
    const first = await Promise.all(
      callers.map((c, i) => probeUntil(agents[i]!, c.ports.outbound, 'blue', settleBy)),
    );
    const simFirst = await simsUntil(sims, 0, 'blue', settleBy);
    if (first.includes(undefined) || simFirst.includes(undefined))
      throw new Error('proxies did not converge on the initial route');

    const real: number[] = [];
    const simulated: number[] = [];
    const applyMs: number[] = [];
    let notConverged = 0;
    let pushesBefore = cp.pushes.length;
    let warmupMax = NaN;
    // Change 0 warms up (JIT of every sidecar's reload path); changes 1..N are measured.
    for (let k = 0; k <= opts.changes; k++) {
      const target = TARGETS[(k + 1) % 2]!;
      const t0 = nowMs();
      const deadline = t0 + CONVERGE_MS;
      const probes = callers.map((c, i) => probeUntil(agents[i]!, c.ports.outbound, target, deadline));
      await apiApply(cp, trafficRoute('switch', 'default', { [target]: 1 }));
      applyMs.push(nowMs() - t0);
      const [r, s] = await Promise.all([Promise.all(probes), simsUntil(sims, t0, target, deadline)]);
      const took = [...r, ...s].map((at) => (at === undefined ? Infinity : at - t0));
      if (k === 0) {
        warmupMax = Math.max(...took);
        pushesBefore = cp.pushes.length;
        opts.log(`warm-up change: all ${took.length} proxies within ${Math.round(warmupMax)} ms`);
        await sleep(500);
        continue;
      }
      notConverged += took.filter((ms) => ms === Infinity).length;
      real.push(...took.slice(0, r.length).filter(Number.isFinite));
      simulated.push(...took.slice(r.length).filter(Number.isFinite));
      opts.log(
        `change ${k}/${opts.changes}: all ${took.length} proxies within ${Math.round(Math.max(...took))} ms`,
      );
      await sleep(300 + Math.random() * 200);
    }
    const status = await proxyStatus(cp);
    return {
      proxies: {
        total: status.length,
        real_sidecars: sidecars.length,
        simulated: sims.length,
        measured_per_change: callers.length + sims.length,
      },
      changes: opts.changes,
      warmup_change_max_ms: Math.round(warmupMax),
      all: summarize([...real, ...simulated]),
      real: summarize(real),
      simulated: summarize(simulated),
      apply_ms: summarize(applyMs),
      control_push_ms: summarize(cp.pushes.slice(pushesBefore).map((p) => p.ms)),
      not_converged: notConverged,
      nacked: status.filter((p) => p.nacked !== undefined).length,
      probe_gap_ms: PROBE_GAP_MS,
      goal_p99_ms: 1000,
    };
  } finally {
    for (const s of sims) s.close();
    for (const a of agents) a.destroy();
    await Promise.all(sidecars.map((s) => s.proc.kill()));
    await Promise.all(apps.map((a) => a.close()));
    await cp?.proc.kill();
  }
}
