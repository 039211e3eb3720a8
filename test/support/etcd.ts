// A real, throwaway single-member etcd on loopback ports, for tests of the etcd store.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, stopChild } from './child-process.ts';

export interface TestEtcd {
  /** Client URL, e.g. http://127.0.0.1:40123. */
  endpoint: string;
  /** Kills the etcd process (by PID) and removes its data dir. */
  stop: () => Promise<void>;
  /** Kills etcd and starts it again on the same ports and data: clients see a short outage. */
  restart: () => Promise<void>;
}

const START_ATTEMPTS = 3;
const READY_TIMEOUT_MS = 15_000;

/** /usr/bin/etcd (Debian's etcd-server), else the first `etcd` on PATH. */
export function findEtcdBinary(): string | undefined {
  const candidates = [
    '/usr/bin/etcd',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'etcd')),
  ];
  return candidates.find((p) => p !== '' && existsSync(p));
}

export async function startEtcd(): Promise<TestEtcd> {
  const bin = findEtcdBinary();
  if (bin === undefined) {
    throw new Error(
      'etcd binary not found (looked for /usr/bin/etcd and etcd on PATH): run `scripts/system-deps.sh test` ' +
        '(installs the Debian package etcd-server)',
    );
  }
  // Free ports are picked by binding port 0 and closing; another process may grab one in between, so retry.
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(bin);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`etcd did not start after ${START_ATTEMPTS} attempts`, { cause: lastError });
}

async function startOnce(bin: string): Promise<TestEtcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'trellis-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
    // Short raft timings: a lone member elects itself sooner, and etcd's minimum lease TTL (1.5 election
    // timeouts) drops to 1 s so tests can use 1-second leases as granted.
    '--heartbeat-interval', '20', '--election-timeout', '200',
    '--logger', 'zap', '--log-level', 'error',
  ]; // prettier-ignore
  let child: ChildProcess | undefined;
  const run = async (): Promise<void> => {
    const started = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    let stderr = '';
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    await waitHealthy(endpoint, started, () => stderr);
  };
  const stop = async (): Promise<void> => {
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const restart = async (): Promise<void> => {
    if (child) await stopChild(child);
    await run();
  };
  try {
    await run();
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, stop, restart };
}

async function waitHealthy(endpoint: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `etcd exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr()}`,
      );
    }
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      const body: unknown = await res.json();
      if (res.ok && typeof body === 'object' && body !== null && 'health' in body && body.health === 'true')
        return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`etcd at ${endpoint} not healthy within ${READY_TIMEOUT_MS} ms:\n${stderr()}`);
}
