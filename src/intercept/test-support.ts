// Network-namespace tests: each test makes its own namespaces (a workload namespace joined by a
// veth to a peer namespace it also makes, so no traffic touches the host's own network) and
// removes them. Processes run inside with `ip netns exec`, and speak one JSON line on stdout.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { createNetns, deleteNetns, ip, netnsUnsupported, type WorkloadNetns } from './netns.ts';
import { originalDstAvailable } from './original-dst.ts';

let skip: string | false | undefined;

/** Why these tests cannot run here (a message for t.skip), or false. */
export function netnsSkipReason(): string | false {
  if (skip !== undefined) return skip;
  if (process.getuid?.() !== 0) skip = 'needs root (ip netns add)';
  else if (spawnSync('iptables-restore', ['--version'], { stdio: 'ignore' }).status !== 0)
    skip = 'iptables is not installed (scripts/system-deps.sh test)';
  else if (!originalDstAvailable()) skip = 'the SO_ORIGINAL_DST addon is not built (npm run build:native)';
  else {
    const refused = netnsUnsupported();
    skip = refused === undefined ? false : `ip netns add is refused here: ${refused}`;
  }
  return skip;
}

export interface Topology {
  /** The workload namespace (app, sidecar, rules). */
  workload: WorkloadNetns;
  /** The namespace at the other end of the veth; its address is workload.peerAddress. */
  peer: string;
}

/** A workload namespace and its peer, both removed after the test. */
export function makeTopology(t: TestContext): Topology {
  const tag = randomBytes(3).toString('hex');
  const peer = `trellis-test-${tag}-p`;
  ip(['netns', 'add', peer]);
  let workload: WorkloadNetns;
  try {
    ip(['link', 'set', 'lo', 'up'], peer);
    // A pool of its own per test file run, so parallel test files do not contend.
    workload = createNetns({ name: `trellis-test-${tag}-w`, peer, pool: '10.213.128.0/17' });
  } catch (err) {
    spawnSync('ip', ['netns', 'del', peer]);
    throw err;
  }
  t.after(() => {
    deleteNetns(workload);
    spawnSync('ip', ['netns', 'del', peer]);
  });
  return { workload, peer };
}

export interface NetnsProcess {
  child: ChildProcess;
  /** The first JSON line the process printed. */
  first: Promise<unknown>;
  /** Writes a line to the process's stdin; resolves with the next JSON line it prints. */
  ask(line: string): Promise<unknown>;
}

/** Runs a fixture script with this Node inside `netns` (as `gid` when given); killed after the test. */
export function runInNetns(
  t: TestContext,
  netns: string,
  script: string,
  args: string[],
  gid?: number,
): NetnsProcess {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    ...(gid !== undefined ? { gid } : {}),
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const next = (): Promise<unknown> =>
    new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script}: no output within 20 s`)), 20_000);
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`${script} exited (${code}) before printing`));
      };
      child.once('exit', onExit);
      lines.once('line', (line) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(JSON.parse(line));
      });
    });
  const first = next();
  return {
    child,
    first,
    ask: (line) => {
      const answer = next();
      child.stdin!.write(`${line}\n`);
      return answer;
    },
  };
}

export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}
