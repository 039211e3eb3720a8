// Processes of the control-plane bench: spawned (optionally pinned to a core), tracked by PID and
// killed with their descendants when the bench exits, however it exits. Also reads memory from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { killTree } from '../proc.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));

const tracked = new Set<number>();
let hooked = false;

export interface Child {
  child: ChildProcess;
  pid: number;
  /** Last bytes of stdout+stderr, for error messages. */
  output: () => string;
  exited: Promise<number | null>;
  /** Calls `fn` with every complete line of stdout and stderr from now on. */
  onLine: (fn: (line: string, stream: 'stdout' | 'stderr') => void) => void;
  /** SIGKILLs the process and its descendants, then waits (bounded) until it is reaped. */
  kill: () => Promise<void>;
}

export interface SpawnOptions {
  /** `taskset -c CORE` (taskset execs, so the PID is the command's own). */
  core?: number | undefined;
  /** Adds an IPC channel (process.send in the child). */
  ipc?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): Child {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const pid of [...tracked]) killTree(pid);
    });
  }
  const [file, argv] =
    opts.core === undefined ? [cmd, args] : ['taskset', ['-c', String(opts.core), cmd, ...args]];
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.ipc === true ? (['ipc'] as const) : [])],
    env: opts.env ?? process.env,
    cwd: REPO_ROOT,
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${cmd}`);
  const pid = child.pid;
  tracked.add(pid);
  let tail = '';
  const listeners: ((line: string, stream: 'stdout' | 'stderr') => void)[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream]?.on('data', (b: Buffer) => {
      const text = b.toString('utf8');
      tail = (tail + text).slice(-4000);
      partial += text;
      let nl = partial.indexOf('\n');
      while (nl >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        for (const fn of listeners) fn(line, stream);
        nl = partial.indexOf('\n');
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      tail += `\nspawn error: ${err.message}`;
      tracked.delete(pid);
      resolve(null);
    });
    child.on('exit', (code, signal) => {
      tracked.delete(pid);
      resolve(code ?? (signal !== null ? 128 : null));
    });
  });
  return {
    child,
    pid,
    output: () => tail,
    exited,
    onLine: (fn) => listeners.push(fn),
    async kill() {
      killTree(pid);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
    },
  };
}

/** Resolves with the first line `match` accepts (its result), rejects on exit or after `timeoutMs`. */
export function waitForLine<T>(
  c: Child,
  what: string,
  timeoutMs: number,
  match: (line: string, stream: 'stdout' | 'stderr') => T | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err !== undefined) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(
      () => finish(new Error(`${what}: not within ${timeoutMs} ms: ${c.output().slice(-600)}`)),
      timeoutMs,
    );
    c.onLine((line, stream) => {
      const v = match(line, stream);
      if (v !== undefined) finish(undefined, v);
    });
    // 'exit' can come before the last output is read: give the pipes a moment to drain first.
    void c.exited.then(async (code) => {
      await Promise.race([drained(c), sleep(2000)]);
      finish(new Error(`${what}: exited with ${code}: ${c.output().slice(-600)}`));
    });
  });
}

function drained(c: Child): Promise<unknown> {
  const ended = (s: Readable | null): Promise<void> =>
    s === null || s.readableEnded
      ? Promise.resolve()
      : new Promise((resolve) => s.once('end', () => resolve()));
  return Promise.all([ended(c.child.stdout), ended(c.child.stderr)]);
}

/** A pino log line as an object, or undefined for any other line. */
export function logLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface Memory {
  /** Resident set size now, MB. */
  rssMb: number;
  /** Peak resident set size (VmHWM), MB. */
  hwmMb: number;
}

/** VmRSS and VmHWM of one process (not its descendants). */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(status)?.[1] ?? NaN);
  return { rssMb: round(kb('VmRSS') / 1024, 1), hwmMb: round(kb('VmHWM') / 1024, 1) };
}

export function round(v: number, digits: number): number {
  return Number(v.toFixed(digits));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now();
