// End-to-end harness for the mesh: real `trellis up`, `trellis run` and CLI processes, started as a
// user types them (`node bin/trellis.js ...`). Long-lived processes get their own process group so
// the cleanup can also reach what they started (sidecar, app) by that group's id; everything a test
// starts is stopped and its temp dirs removed in t.after.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin/trellis.js');
export const APP_FIXTURE = path.join(ROOT, 'test/mesh/fixtures/app.ts');
export const DEMO = path.join(ROOT, 'examples/demo');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}
export type LogLine = Record<string, unknown> & { msg?: string };

/** The environment every trellis process gets: no TRELLIS_CONTROL or tokens from the caller's shell. */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // `node` in an app command is this Node (24), whatever the caller's PATH says.
  const PATH = [path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH, NO_COLOR: '1' };
  delete env.TRELLIS_CONTROL;
  delete env.TRELLIS_TOKEN;
  delete env.TRELLIS_JOIN_TOKEN;
  return { ...env, ...extra };
}

/** Every control plane `up` started, by URL: where its admin token is (etcd replicas share one). */
const controlPlanes = new Map<string, { dir: string; etcd: string | undefined }>();

function tokenIn(dir: string): string | undefined {
  try {
    return readFileSync(path.join(dir, 'admin-token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The admin token of the control plane(s) at `control` (comma-separated URLs), as a user would
 * export TRELLIS_TOKEN. A replica that did not make the tokens has no file: another replica of the
 * same etcd has it.
 */
export function adminTokenFor(control: string): string | undefined {
  for (const url of control.split(',')) {
    const cp = controlPlanes.get(url.trim());
    if (cp === undefined) continue;
    const own = tokenIn(cp.dir);
    if (own !== undefined) return own;
    for (const other of controlPlanes.values()) {
      const shared = other.etcd !== undefined && other.etcd === cp.etcd ? tokenIn(other.dir) : undefined;
      if (shared !== undefined) return shared;
    }
  }
  return undefined;
}

/** TRELLIS_TOKEN for a command given `--control URL` of a control plane `up` started. */
function tokenEnv(args: string[], env: Record<string, string> | undefined): Record<string, string> {
  const at = args.indexOf('--control');
  const control = at >= 0 ? args[at + 1] : undefined;
  if (control === undefined || env?.TRELLIS_TOKEN !== undefined) return {};
  const token = adminTokenFor(control);
  return token === undefined ? {} : { TRELLIS_TOKEN: token };
}

/** Polls `fn` until it returns something other than undefined; bounded in time. */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}

/** A long-lived trellis process (and its process group). */
export class Proc {
  readonly pid: number;
  /** The process is gone (what it started may still hold its stdout/stderr). */
  readonly exited: Promise<Exit>;
  /** Its stdout and stderr are closed too: all output has been read. */
  readonly closed: Promise<void>;
  stdout = '';
  stderr = '';
  private readonly child: ChildProcess;
  private readonly logLines: LogLine[] = [];
  private partial = '';

  constructor(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: baseEnv({ ...tokenEnv(args, opts.env), ...opts.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (this.child.pid === undefined) throw new Error(`could not start trellis ${args.join(' ')}`);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.closed = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => this.onStderr(d));
  }

  private onStderr(chunk: string): void {
    this.stderr += chunk;
    this.partial += chunk;
    for (let nl = this.partial.indexOf('\n'); nl >= 0; nl = this.partial.indexOf('\n')) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null) this.logLines.push(parsed as LogLine);
      } catch {
        // not a log line (a message from the CLI or the app)
      }
    }
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): LogLine[] {
    return this.logLines;
  }

  /** The first log line that satisfies `pred`; fails at once if the process exits first. */
  async waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    let found = this.logLines.find(pred);
    while (found === undefined && this.running && Date.now() < deadline) {
      await sleep(25);
      found = this.logLines.find(pred);
    }
    if (found !== undefined) return found;
    const why = this.running ? `not seen within ${timeoutMs} ms` : 'the process exited first';
    throw new Error(`${what}: ${why}; stderr:\n${this.stderr.slice(-4000)}`);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, sig);
  }

  /** SIGTERM to the leader; after the grace period (or once it is gone) SIGKILL whatever is left in its group. */
  async stop(graceMs = 8000): Promise<Exit> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.killGroup(), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    this.killGroup();
    return result;
  }

  private killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is already empty
    }
  }
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion (killed after `timeoutMs`). */
export async function trellis(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const proc = new Proc(args, opts);
  const timer = setTimeout(() => void proc.stop(1000), opts.timeoutMs ?? 30_000);
  const exit = await proc.exited;
  await proc.closed;
  clearTimeout(timer);
  return { ...exit, stdout: proc.stdout, stderr: proc.stderr };
}

/** Like `trellis`, but fails the test (with the output) unless the command exits 0. */
export async function trellisOk(args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await trellis(args, opts);
  if (r.code !== 0) {
    throw new Error(`trellis ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** A test's temp dir and cleanups, run in reverse order in t.after. */
export class Scope {
  readonly dir: string;
  private readonly cleanups: (() => Promise<unknown>)[] = [];
  private closed = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A scope closed when the test ends. */
  static async create(t: Pick<TestContext, 'after'>): Promise<Scope> {
    const scope = await Scope.open();
    t.after(() => scope.close());
    return scope;
  }

  /** A scope the caller closes (e.g. a suite's, in its `after` hook). */
  static async open(): Promise<Scope> {
    return new Scope(await mkdtemp(path.join(tmpdir(), 'trellis-mesh-')));
  }

  defer(fn: () => Promise<unknown>): void {
    // Registered after close (a test that outlived its scope): clean up now rather than never.
    if (this.closed) void fn().catch(() => {});
    else this.cleanups.push(fn);
  }

  async subdir(name: string): Promise<string> {
    const dir = path.join(this.dir, name);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** A process stopped at cleanup. */
  start(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Proc {
    const proc = new Proc(args, opts);
    this.defer(() => proc.stop());
    return proc;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const fn of this.cleanups.reverse()) await fn().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface ControlPlaneProcess {
  proc: Proc;
  url: string;
  port: number;
  dir: string;
}

const ControlJson = z.object({ url: z.string(), pid: z.number() });

/** `trellis up --dir DIR --port PORT [--etcd URL] [FLAGS]`; the URL comes from DIR/control.json. */
export async function up(
  scope: Scope,
  opts: { dir: string; port?: number; etcd?: string; cwd?: string; flags?: string[] },
): Promise<ControlPlaneProcess> {
  const args = ['up', '--dir', opts.dir, '--port', String(opts.port ?? 0)];
  if (opts.etcd !== undefined) args.push('--etcd', opts.etcd);
  args.push(...(opts.flags ?? []));
  const proc = scope.start(args, { cwd: opts.cwd ?? scope.dir });
  const file = path.resolve(opts.cwd ?? scope.dir, opts.dir, 'control.json');
  // The file of an earlier (killed) control plane on the same dir may still be there: match the PID.
  const cf = await waitUntil(
    'control.json',
    async () => {
      if (!proc.running) throw new Error(`trellis up exited:\n${proc.stderr}`);
      const parsed = ControlJson.safeParse(JSON.parse(await readFile(file, 'utf8')));
      return parsed.success && parsed.data.pid === proc.pid ? parsed.data : undefined;
    },
    20_000,
    50,
  );
  controlPlanes.set(cf.url, { dir: path.resolve(opts.cwd ?? scope.dir, opts.dir), etcd: opts.etcd });
  return { proc, url: cf.url, port: Number(new URL(cf.url).port), dir: opts.dir };
}

export interface RunOptions {
  service: string;
  version?: string;
  servicePort?: number;
  protocol?: 'http' | 'http2' | 'grpc' | 'tcp';
  /** More `trellis run` flags. */
  flags?: string[];
  /** The app command; default the fixture app. */
  app?: string[];
  env?: Record<string, string>;
}

export interface WorkloadProcess {
  /** The `trellis run` process. */
  proc: Proc;
  name: string;
  sidecarPid: number;
  ports: { inbound: number; outbound: number; admin: number };
}

const SidecarListening = z.object({
  pid: z.number(),
  workload: z.string(),
  ports: z.object({ inbound: z.number(), outbound: z.number(), admin: z.number() }),
});

/** `trellis run --control URL --service S ... -- APP`; resolves once the sidecar applied its first snapshot. */
export async function run(scope: Scope, control: string, o: RunOptions): Promise<WorkloadProcess> {
  const args = ['run', '--control', control, '--service', o.service];
  if (o.version !== undefined) args.push('--version', o.version);
  if (o.servicePort !== undefined) args.push('--service-port', String(o.servicePort));
  if (o.protocol !== undefined) args.push('--protocol', o.protocol);
  args.push(...(o.flags ?? []), '--', ...(o.app ?? [process.execPath, APP_FIXTURE]));
  const proc = scope.start(args, { env: { VERSION: o.version ?? 'v1', ...o.env } });
  const listening = SidecarListening.parse(
    await proc.waitForLog('sidecar listening', (l) => l.msg?.startsWith('sidecar listening') === true),
  );
  await proc.waitForLog('first snapshot', (l) => l.msg === 'snapshot applied');
  return { proc, name: listening.workload, sidecarPid: listening.pid, ports: listening.ports };
}

/** True while a process with this PID exists and has not exited (a zombie counts as gone). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
