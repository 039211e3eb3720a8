// The real Trellis processes the control-plane bench drives — `trellis up`, `trellis sidecar`,
// `trellis run` — started through bin/trellis.js exactly as a user would, and the REST calls it makes.
// The API wants the admin token `trellis up` writes into its dir; workloads get it as TRELLIS_TOKEN
// and mint their own join tokens with it, as `trellis run` does for a user.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { API_TOKEN_FILES } from '../../src/control/api-auth.ts';
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

/** What an API call needs: where the control plane is, and its admin token. */
export interface ControlApi {
  url: string;
  token: string;
}

export interface ControlProcess extends ControlApi {
  proc: Child;
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
  // Written before the API listens (and kept across restarts on the same dir).
  const token = readFileSync(join(dir, API_TOKEN_FILES.admin), 'utf8').trim();
  return { proc, url, token, port: Number(new URL(url).port), pushes };
}

/** The environment of a workload command: the admin token, so it can mint its join token. */
const workloadEnv = (control: ControlApi): NodeJS.ProcessEnv => ({
  ...process.env,
  TRELLIS_TOKEN: control.token,
});

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
  control: ControlApi,
  service: string,
  appPort: number,
  core: number | undefined,
  name?: string,
): Promise<SidecarProcess> {
  const args = [
    TRELLIS_BIN,
    'sidecar',
    '--control',
    control.url,
    '--service',
    service,
    '--port',
    String(appPort),
  ];
  if (name !== undefined) args.push('--name', name);
  const proc = spawnTracked(process.execPath, args, { core, env: workloadEnv(control) });
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
  control: ControlApi,
  service: string,
  command: string[],
  core: number | undefined,
): Child {
  return spawnTracked(
    process.execPath,
    [TRELLIS_BIN, 'run', '--control', control.url, '--service', service, '--', ...command],
    { core, env: workloadEnv(control) },
  );
}

const bearer = (api: ControlApi): Record<string, string> => ({ authorization: `Bearer ${api.token}` });

export async function apiGet(api: ControlApi, path: string): Promise<unknown> {
  const res = await fetch(new URL(path, api.url), {
    headers: bearer(api),
    signal: AbortSignal.timeout(10_000),
  });
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** POST /api/v1/apply; throws unless every resource was accepted. */
export async function apiApply(api: ControlApi, yaml: string): Promise<void> {
  const res = await fetch(new URL('/api/v1/apply?file=bench.yaml', api.url), {
    method: 'POST',
    body: yaml,
    headers: { ...bearer(api), 'content-type': 'application/yaml' },
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`apply: ${res.status} ${await res.text()}`);
  await res.arrayBuffer().catch(() => undefined);
}

export async function revisionOf(api: ControlApi): Promise<number> {
  return z.object({ revision: z.number() }).parse(await apiGet(api, '/api/v1/health')).revision;
}

/** POST /api/v1/tokens: a join token for one service account (what a push stream must present). */
export async function createJoinToken(
  api: ControlApi,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const res = await fetch(new URL('/api/v1/tokens', api.url), {
    method: 'POST',
    body: JSON.stringify({ namespace, serviceAccount, description: 'bench' }),
    headers: { ...bearer(api), 'content-type': 'application/json' },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`join token for ${namespace}/${serviceAccount}: ${res.status} ${text}`);
  return z.object({ token: z.string().min(1) }).parse(JSON.parse(text)).token;
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

export async function proxyStatus(api: ControlApi): Promise<ProxyRow[]> {
  return z.object({ items: z.array(ProxyRow) }).parse(await apiGet(api, '/api/v1/proxies')).items;
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
