// What every target of the proxy scenario starts with: the target interface, free ports, waiting
// until a URL answers through all of a target's processes, and nginx configs run in the foreground.
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawnPinned, stop, type Spawned } from './proc.ts';

export interface TargetContext {
  tmp: string;
  upstreamPort: number;
  /** Core the proxy under test is pinned to. */
  proxyCore: number;
}

export interface RunningTarget {
  /** URL the load generators hit. */
  url: string;
  /** Processes whose CPU and RSS are charged to the target (empty for direct). */
  pids: number[];
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  start(ctx: TargetContext): Promise<RunningTarget>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** The lines of a process's output that say what went wrong (else its end). */
function gist(output: string): string {
  const lines = output.split('\n').filter((l) => /error|alert|emerg|fatal|cannot|refused/i.test(l));
  return (lines.length > 0 ? lines.slice(0, 3).join(' / ') : output).trim().slice(-400);
}

/** Waits (at most 10 s) until `url` answers 200; fails early when a process exits. */
async function ready(url: string, procs: Spawned[]): Promise<void> {
  let exited: Spawned | undefined;
  for (const p of procs) void p.exited.then(() => (exited ??= p));
  let last = 0;
  for (let i = 0; i < 100; i++) {
    if (exited) throw new Error(`process exited during start-up: ${gist(exited.output())}`);
    last = await getStatus(url);
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = procs.map((p) => gist(p.output())).join(' | ');
  throw new Error(`${url} not ready after 10 s (last status ${last || 'none'}) ${out}`);
}

/** Starts the processes and waits until `url` answers through all of them; cleans up on failure. */
export async function startAll(url: string, spawners: Array<() => Spawned>): Promise<RunningTarget> {
  const procs: Spawned[] = [];
  const stopAll = async (): Promise<void> => {
    for (const p of procs.reverse()) await stop(p);
  };
  try {
    for (const s of spawners) procs.push(s());
    await ready(url, procs);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { url, pids: procs.map((p) => p.pid), stop: stopAll };
}

export const NGINX_MAIN = (tmp: string, name: string): string => `
daemon off;
master_process off;
worker_processes 1;
pid ${join(tmp, `${name}.pid`)};
error_log ${join(tmp, `${name}-error.log`)} warn;
events { worker_connections 8192; }
`;
export const NGINX_HTTP = (tmp: string): string => `
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
`;

/** Writes `conf` as `<name>.conf` and returns a spawner of nginx on it, pinned to `core`. */
export function nginx(tmp: string, name: string, core: number, conf: string): () => Spawned {
  const file = join(tmp, `${name}.conf`);
  writeFileSync(file, conf);
  return () => spawnPinned(core, 'nginx', ['-p', tmp, '-e', join(tmp, `${name}-error.log`), '-c', file]);
}
