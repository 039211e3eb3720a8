// The real Trellis processes the control-plane bench drives — `trellis up`, `trellis sidecar`,
// `trellis run` — started through bin/trellis.js exactly as a user would, and the REST calls it makes.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { logLine, nowMs, REPO_ROOT, spawnTracked, TRELLIS_BIN, waitForLine, type Child } from './procs.ts';

const STARTUP_MS = 60_000;

/** One push as the control plane logs it (`pushed`), stamped with when the bench read it. */
export interface PushLog {
  revision: number;
  proxies: number;
  sent: number;
  ms: number;
  at: number;
}

export interface ControlProcess {
  proc: Child;
  url: string;
  port: number;
  pushes: PushLog[];
}

/** `trellis up --dir DIR --port PORT`; resolves once it prints where it listens. */
export async function startControlPlane(
  dir: string,
  port: number,
  core: number | undefined,
  nodeArgs: string[] = [],
): Promise<ControlProcess> {
  const proc = spawnTracked(
    process.execPath,
    [...nodeArgs, TRELLIS_BIN, 'up', '--dir', dir, '--port', String(port)],
    {
      core,
    },
  );
  const pushes: PushLog[] = [];
  proc.onLine((line, stream) => {
    if (stream !== 'stderr') return;
    const log = logLine(line);
    if (log?.msg !== 'pushed') return;
    const n = (k: string): number => (typeof log[k] === 'number' ? log[k] : NaN);
    pushes.push({
      revision: n('revision'),
      proxies: n('proxies'),
      sent: n('sent'),
      ms: n('ms'),
      at: nowMs(),
    });
  });
  const url = await waitForLine(
    proc,
    'trellis up',
    STARTUP_MS,
    (line) => /API and push stream: (http:\/\/\S+)/.exec(line)?.[1],
  );
  return { proc, url, port: Number(new URL(url).port), pushes };
}

export interface SidecarPorts {
  inbound: number;
  outbound: number;
  admin: number;
}

export interface SidecarProcess {
  proc: Child;
  name: string;
  ports: SidecarPorts;
}

function portsOf(log: Record<string, unknown>): SidecarPorts | undefined {
  const p = log.ports as Partial<SidecarPorts> | undefined;
  if (typeof p?.inbound !== 'number' || typeof p.outbound !== 'number' || typeof p.admin !== 'number')
    return undefined;
  return { inbound: p.inbound, outbound: p.outbound, admin: p.admin };
}

/** `trellis sidecar` for an app already listening on `appPort`; resolves once it applied a snapshot. */
export async function startSidecar(
  controlUrl: string,
  service: string,
  appPort: number,
  core: number | undefined,
  name?: string,
): Promise<SidecarProcess> {
  const args = [
    TRELLIS_BIN,
    'sidecar',
    '--control',
    controlUrl,
    '--service',
    service,
    '--port',
    String(appPort),
  ];
  if (name !== undefined) args.push('--name', name);
  const proc = spawnTracked(process.execPath, args, { core });
  const applied = waitForLine(proc, `sidecar ${service}`, STARTUP_MS, (line) =>
    logLine(line)?.msg === 'snapshot applied' ? true : undefined,
  );
  const listening = await waitForLine(proc, `sidecar ${service}`, STARTUP_MS, (line) => {
    const log = logLine(line);
    const ports = log === undefined ? undefined : portsOf(log);
    return ports === undefined ? undefined : { ports, name: String(log?.workload) };
  });
  await applied;
  return { proc, ...listening };
}

/** `trellis run --service NAME -- CMD ARGS` (the app's own stdout comes out of `proc`). */
export function startRun(
  controlUrl: string,
  service: string,
  command: string[],
  core: number | undefined,
): Child {
  return spawnTracked(
    process.execPath,
    [TRELLIS_BIN, 'run', '--control', controlUrl, '--service', service, '--', ...command],
    { core },
  );
}

export async function apiGet(controlUrl: string, path: string): Promise<unknown> {
  const res = await fetch(new URL(path, controlUrl), { signal: AbortSignal.timeout(10_000) });
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** POST /api/v1/apply; throws unless every resource was accepted. */
export async function apiApply(controlUrl: string, yaml: string): Promise<void> {
  const res = await fetch(new URL('/api/v1/apply?file=bench.yaml', controlUrl), {
    method: 'POST',
    body: yaml,
    headers: { 'content-type': 'application/yaml' },
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`apply: ${res.status} ${await res.text()}`);
  await res.arrayBuffer().catch(() => undefined);
}

export async function revisionOf(controlUrl: string): Promise<number> {
  return z.object({ revision: z.number() }).parse(await apiGet(controlUrl, '/api/v1/health')).revision;
}

/** A row of GET /api/v1/proxies (the fields the bench reads). */
const ProxyRow = z.object({
  id: z.string(),
  workload: z.string(),
  namespace: z.string(),
  acked: z.string().optional(),
  nacked: z.object({ version: z.string(), error: z.string() }).optional(),
});
export type ProxyRow = z.infer<typeof ProxyRow>;

export async function proxyStatus(controlUrl: string): Promise<ProxyRow[]> {
  return z.object({ items: z.array(ProxyRow) }).parse(await apiGet(controlUrl, '/api/v1/proxies')).items;
}

/** A TrafficRoute sending all of `service`'s traffic to `backends` (name → weight). */
export function trafficRoute(service: string, namespace: string, backends: Record<string, number>): string {
  const list = Object.entries(backends)
    .map(([svc, weight]) => `        - service: ${svc}\n          weight: ${weight}`)
    .join('\n');
  return [
    'apiVersion: trellis.io/v1alpha1',
    'kind: TrafficRoute',
    'metadata:',
    `  name: ${service}`,
    `  namespace: ${namespace}`,
    'spec:',
    `  service: ${service}`,
    '  routes:',
    '    - backends:',
    list,
    '',
  ].join('\n');
}

function newestSource(dir: string, depth = 0): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth < 8) newest = Math.max(newest, newestSource(path, depth + 1));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/**
 * What bin/trellis.js runs, by its own rule: the build in dist/ when it is current, else the
 * TypeScript sources (Node's type stripper adds ~17 MB of RSS; see "Memory, V8 flags and the build").
 */
export function trellisEntry(): 'dist' | 'src' {
  const env = process.env.TRELLIS_ENTRY;
  if (env === 'src' || env === 'dist') return env;
  const stamp = join(REPO_ROOT, 'dist', '.tsbuildinfo');
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js')) || !existsSync(stamp)) return 'src';
  return newestSource(join(REPO_ROOT, 'src')) <= statSync(stamp).mtimeMs ? 'dist' : 'src';
}
