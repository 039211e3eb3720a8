// Many simulated proxies in a child process, so their memory and CPU are not the control plane's
// or the bench's. The bench talks to the child over IPC: start (connect N proxies), query (who has
// acknowledged a version ≥ V, and when), stop.
//
// Simulated proxy i registers workload `svcS-simI` of service svcS, S = i mod services, in
// namespace nsK, K = S mod namespaces: 2,000 proxies over 1,000 services give 2 endpoints each.
// Its service account is svcS: the child mints one join token per account with the admin token.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { JoinTokenCache } from './join-tokens.ts';
import { SimProxy, simRegistration } from './sim-proxy.ts';
import { spawnTracked, type Child } from './procs.ts';

// IPC messages, parsed on arrival like anything that crosses a process boundary.
export const FleetStart = z.strictObject({
  type: z.literal('start'),
  controlUrl: z.string(),
  /** The control plane's admin token: the child mints join tokens with it. */
  adminToken: z.string().min(1),
  /** Index of the first proxy (fleets split one numbering, so names and addresses never clash). */
  from: z.number().int().min(0),
  count: z.number().int().min(0),
  services: z.number().int().positive(),
  namespaces: z.number().int().positive(),
  /** Hellos in flight at once. */
  concurrency: z.number().int().positive(),
});
export type FleetStart = z.infer<typeof FleetStart>;

export const FleetQuery = z.strictObject({
  type: z.literal('query'),
  id: z.number(),
  minVersion: z.number(),
  /** Only snapshots received at or after this time (ms since the epoch). */
  since: z.number(),
});
export type FleetQuery = z.infer<typeof FleetQuery>;

const ParentMessage = z.discriminatedUnion('type', [
  FleetStart,
  FleetQuery,
  z.strictObject({ type: z.literal('stop') }),
]);

/** Sent every 2 s while connecting. */
const FleetProgress = z.strictObject({
  type: z.literal('progress'),
  connected: z.number(),
  failed: z.number(),
});
type FleetProgress = z.infer<typeof FleetProgress>;

export const FleetReady = z.strictObject({
  type: z.literal('ready'),
  connected: z.number(),
  failed: z.array(z.string()),
  ms: z.number(),
});
export type FleetReady = z.infer<typeof FleetReady>;

export const FleetReply = z.strictObject({
  type: z.literal('reply'),
  id: z.number(),
  /** Proxies with an open, welcomed stream. */
  open: z.number(),
  /** Streams that ended after their welcome (each proxy reconnects), with the reason of the first few. */
  dropped: z.number(),
  dropReasons: z.array(z.string()),
  /** Per proxy that has one: when it first received (and ACKed) a snapshot of version ≥ minVersion. */
  ackTimes: z.array(z.number()),
  /** Size of the largest snapshot message received (bytes). */
  maxBytes: z.number(),
});
export type FleetReply = z.infer<typeof FleetReply>;

const ChildMessage = z.discriminatedUnion('type', [FleetProgress, FleetReady, FleetReply]);

export function serviceOf(
  i: number,
  services: number,
  namespaces: number,
): { service: string; namespace: string } {
  const s = i % services;
  return { service: `svc${s}`, namespace: `ns${s % namespaces}` };
}

/** Creates the proxies into `proxies` (so queries see them at once) and connects them. */
async function runFleet(
  start: FleetStart,
  proxies: SimProxy[],
  reply: (m: FleetReady | FleetReply | FleetProgress) => void,
): Promise<void> {
  const began = performance.now();
  let connected = 0;
  const tokens = new JoinTokenCache({ url: start.controlUrl, token: start.adminToken });
  for (let k = 0; k < start.count; k++) {
    const i = start.from + k;
    const { service, namespace } = serviceOf(i, start.services, start.namespaces);
    const registration = simRegistration(i, service, namespace);
    proxies.push(new SimProxy({ controlUrl: start.controlUrl, registration, joinTokens: tokens }));
  }
  const failed: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let p = proxies[next++]; p !== undefined; p = proxies[next++]) {
      await p.connect(60_000).then(
        () => connected++,
        (err: unknown) => failed.push(String(err)),
      );
    }
  };
  const progress = setInterval(() => reply({ type: 'progress', connected, failed: failed.length }), 2000);
  await Promise.all(Array.from({ length: start.concurrency }, worker));
  clearInterval(progress);
  const ms = performance.now() - began;
  reply({ type: 'ready', connected: start.count - failed.length, failed: failed.slice(0, 5), ms });
}

function answer(proxies: SimProxy[], q: FleetQuery): FleetReply {
  const ackTimes: number[] = [];
  let open = 0;
  let dropped = 0;
  const dropReasons: string[] = [];
  let maxBytes = 0;
  for (const p of proxies) {
    for (const r of p.received) maxBytes = Math.max(maxBytes, r.bytes);
    if (p.open) open++;
    dropped += p.drops;
    if (p.drops > 0 && dropReasons.length < 5) dropReasons.push(`${p.id}: ${p.closedBy}`);
    const at = p.firstSince(q.since, (r) => Number(r.version) >= q.minVersion);
    if (at !== undefined) ackTimes.push(at);
  }
  return { type: 'reply', id: q.id, open, dropped, dropReasons, ackTimes, maxBytes };
}

/** The bench's handle on one fleet child. */
export class Fleet {
  readonly proc: Child;
  private queries = 0;
  private readonly pending = new Map<number, (r: FleetReply) => void>();
  private readyResolve: ((r: FleetReady) => void) | undefined;
  /** Proxies connected so far (while connecting). */
  connected = 0;

  private constructor(proc: Child) {
    this.proc = proc;
    proc.child.on('message', (raw: unknown) => {
      const parsed = ChildMessage.safeParse(raw);
      if (!parsed.success) return;
      const m = parsed.data;
      if (m.type === 'progress') {
        this.connected = m.connected;
        return;
      }
      if (m.type === 'ready') return this.readyResolve?.(m);
      this.pending.get(m.id)?.(m);
      this.pending.delete(m.id);
    });
  }

  /** Spawns the child (on `core`) and has it connect its proxies; resolves when all tried. */
  static async start(
    start: Omit<FleetStart, 'type'>,
    core: number | undefined,
    timeoutMs: number,
    onStarted?: (f: Fleet) => void,
  ): Promise<[Fleet, FleetReady]> {
    const proc = spawnTracked(process.execPath, [fileURLToPath(import.meta.url)], { core, ipc: true });
    const fleet = new Fleet(proc);
    onStarted?.(fleet);
    const ready = new Promise<FleetReady>((resolve, reject) => {
      fleet.readyResolve = resolve;
      setTimeout(() => reject(new Error(`fleet: not connected within ${timeoutMs} ms`)), timeoutMs).unref();
      void proc.exited.then((code) =>
        reject(new Error(`fleet exited with ${code}: ${proc.output().slice(-500)}`)),
      );
    });
    proc.child.send({ type: 'start', ...start } satisfies FleetStart);
    return [fleet, await ready];
  }

  query(minVersion: number, since: number): Promise<FleetReply> {
    const id = ++this.queries;
    return new Promise<FleetReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fleet: no reply within 10 s')), 10_000);
      this.pending.set(id, (r) => (clearTimeout(timer), resolve(r)));
      this.proc.child.send({ type: 'query', id, minVersion, since } satisfies FleetQuery);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.child.connected) this.proc.child.send({ type: 'stop' });
    await Promise.race([this.proc.exited, new Promise((r) => setTimeout(r, 3000))]);
    await this.proc.kill();
  }
}

if (import.meta.main) {
  const proxies: SimProxy[] = [];
  const send = (m: FleetReady | FleetReply | FleetProgress): void => void process.send?.(m);
  process.on('message', (raw: unknown) => {
    const parsed = ParentMessage.safeParse(raw);
    if (!parsed.success) return;
    const m = parsed.data;
    if (m.type === 'start') void runFleet(m, proxies, send);
    else if (m.type === 'query') send(answer(proxies, m));
    else {
      for (const p of proxies) p.close();
      process.exit(0);
    }
  });
  // The bench went away: do not linger.
  process.on('disconnect', () => process.exit(0));
}
