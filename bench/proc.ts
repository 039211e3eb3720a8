// Child processes of the bench: spawned pinned to a core, tracked by PID, killed (with their
// descendants) on exit, Ctrl-C and errors. Also reads CPU time and peak RSS from /proc.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const tracked = new Set<number>();

/** Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Last bytes of stdout+stderr, for error messages. */
  output: () => string;
  exited: Promise<number | null>;
}

/** Spawns `cmd args` pinned to `core` with taskset (taskset execs, so the PID is the command's). */
export function spawnPinned(core: number, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Spawned {
  const child = spawn('taskset', ['-c', String(core), cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ?? process.env,
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${cmd}`);
  const pid = child.pid;
  tracked.add(pid);
  let tail = '';
  const keep = (b: Buffer): void => {
    tail = (tail + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      keep(Buffer.from(`spawn error: ${err.message}\n`));
      tracked.delete(pid);
      resolve(null);
    });
    child.on('exit', (code, signal) => {
      tracked.delete(pid);
      resolve(code ?? (signal ? 128 : null));
    });
  });
  return { child, pid, output: () => tail, exited };
}

/** Parent PID of every process, read from /proc/<pid>/stat. */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(Number(name));
    else children.set(stat.ppid, [Number(name)]);
  }
  return children;
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const children = parentMap();
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0 && out.length < 1000) {
    const p = stack.pop() as number;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

interface Stat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parens: fields after the last ')' are fixed.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** CPU seconds (user + system) used so far by the processes and their descendants. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const root of pids) for (const p of processTree(root)) ticks += readStat(p)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

/** Sum of peak resident set sizes (VmHWM) in MB of the processes and their descendants. */
export function peakRssMb(pids: readonly number[]): number {
  let kb = 0;
  for (const root of pids) {
    for (const p of processTree(root)) {
      try {
        const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
        kb += Number(m?.[1] ?? 0);
      } catch {
        // exited meanwhile
      }
    }
  }
  return kb / 1024;
}

/** SIGKILLs one tracked process and its descendants (children first found, then killed). */
export function killTree(pid: number): void {
  let pids: number[];
  try {
    pids = processTree(pid);
  } catch {
    pids = [pid];
  }
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  tracked.delete(pid);
}

/** Kills every process the bench started and still runs. Synchronous: safe in 'exit'. */
export function killAll(): void {
  for (const pid of [...tracked]) killTree(pid);
}

/** Stops a spawned process and waits (bounded) for it to be reaped. */
export async function stop(s: Spawned): Promise<void> {
  killTree(s.pid);
  await Promise.race([s.exited, new Promise((r) => setTimeout(r, 2000).unref())]);
}
