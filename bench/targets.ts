// How each target of the proxy scenario starts: generated configs in a temp dir, every process
// a child of the bench pinned with taskset, on 127.0.0.1 ports picked free.
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ProxyConfigInput } from '../src/model/schema.ts';
import { spawnPinned, stop, type Spawned } from './proc.ts';

/** The upstream's answer: exactly 1024 bytes, no characters nginx would interpret. */
export const BODY = 'x'.repeat(1023) + '\n';

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

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const peer = (file: string): string => join(ROOT, 'bench', 'peers', file);

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
async function startAll(url: string, spawners: Array<() => Spawned>): Promise<RunningTarget> {
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

const NGINX_MAIN = (tmp: string, name: string): string => `
daemon off;
master_process off;
worker_processes 1;
pid ${join(tmp, `${name}.pid`)};
error_log ${join(tmp, `${name}-error.log`)} warn;
events { worker_connections 8192; }
`;
const NGINX_HTTP = (tmp: string): string => `
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
`;

function nginx(tmp: string, name: string, core: number, conf: string): () => Spawned {
  const file = join(tmp, `${name}.conf`);
  writeFileSync(file, conf);
  return () => spawnPinned(core, 'nginx', ['-p', tmp, '-e', join(tmp, `${name}-error.log`), '-c', file]);
}

/** The upstream: nginx, 1 worker, a fixed 1 KB body. */
export async function startUpstream(tmp: string, core: number): Promise<RunningTarget & { port: number }> {
  const port = await freePort();
  const conf = `${NGINX_MAIN(tmp, 'upstream')}
http {${NGINX_HTTP(tmp)}
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    default_type text/plain;
    location / { return 200 "${BODY.replace('\n', '\\n')}"; }
  }
}
`;
  const t = await startAll(`http://127.0.0.1:${port}/`, [nginx(tmp, 'upstream', core, conf)]);
  return { ...t, port };
}

const nginxProxy: Target = {
  name: 'nginx',
  async start({ tmp, upstreamPort, proxyCore }) {
    const port = await freePort();
    const conf = `${NGINX_MAIN(tmp, 'nginx-proxy')}
http {${NGINX_HTTP(tmp)}
  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
    return startAll(`http://127.0.0.1:${port}/`, [nginx(tmp, 'nginx-proxy', proxyCore, conf)]);
  },
};

const haproxy: Target = {
  name: 'haproxy',
  async start({ tmp, upstreamPort, proxyCore }) {
    const port = await freePort();
    const file = join(tmp, 'haproxy.cfg');
    writeFileSync(
      file,
      `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server up 127.0.0.1:${upstreamPort} pool-max-conn 256
`,
    );
    // -db: foreground, no daemon, no master process.
    return startAll(`http://127.0.0.1:${port}/`, [
      () => spawnPinned(proxyCore, 'haproxy', ['-db', '-f', file]),
    ]);
  },
};

function nodePeer(name: string, file: string): Target {
  return {
    name,
    async start({ upstreamPort, proxyCore }) {
      const port = await freePort();
      const args = [peer(file), '--port', String(port), '--upstream', `http://127.0.0.1:${upstreamPort}`];
      return startAll(`http://127.0.0.1:${port}/`, [() => spawnPinned(proxyCore, process.execPath, args)]);
    },
  };
}

/** A Trellis config: one listener, one route table matching everything, one cluster. */
export function trellisConfig(o: {
  port: number;
  adminPort: number;
  direction: 'outbound' | 'inbound';
  upstreamPort: number;
}): ProxyConfigInput {
  return {
    version: 'bench',
    node: { id: `bench-${o.direction}` },
    admin: { address: '127.0.0.1', port: o.adminPort },
    listeners: [
      {
        name: `bench-${o.direction}`,
        direction: o.direction,
        address: '127.0.0.1',
        port: o.port,
        protocol: 'http1',
        routeTable: 'bench',
      },
    ],
    routeTables: [
      {
        name: 'bench',
        virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ backends: [{ cluster: 'upstream' }] }] }],
      },
    ],
    clusters: [
      { name: 'upstream', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: o.upstreamPort }] },
    ],
  };
}

/** The `trellis` command as users run it: the build in dist/ (bench/run.ts builds first), with its default flags. */
const TRELLIS_BIN = join(ROOT, 'bin', 'trellis.js');

async function trellisProxy(
  tmp: string,
  core: number,
  name: string,
  direction: 'outbound' | 'inbound',
  upstreamPort: number,
): Promise<{ port: number; spawn: () => Spawned }> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(trellisConfig({ port, adminPort, direction, upstreamPort })));
  const args = [TRELLIS_BIN, 'proxy', '--config', file];
  // The build bench/run.ts just made, even if a source file changed since (a shared checkout).
  const env = { ...process.env, TRELLIS_ENTRY: 'dist' };
  return { port, spawn: () => spawnPinned(core, process.execPath, args, env) };
}

const trellis: Target = {
  name: 'trellis',
  async start({ tmp, upstreamPort, proxyCore }) {
    const p = await trellisProxy(tmp, proxyCore, 'trellis', 'outbound', upstreamPort);
    return startAll(`http://127.0.0.1:${p.port}/`, [p.spawn]);
  },
};

/** Client-side proxy (outbound) → server-side proxy (inbound) → upstream; both on the proxy core. */
const trellisPair: Target = {
  name: 'trellis-pair',
  async start({ tmp, upstreamPort, proxyCore }) {
    const server = await trellisProxy(tmp, proxyCore, 'trellis-pair-server', 'inbound', upstreamPort);
    const client = await trellisProxy(tmp, proxyCore, 'trellis-pair-client', 'outbound', server.port);
    return startAll(`http://127.0.0.1:${client.port}/`, [server.spawn, client.spawn]);
  },
};

const direct: Target = {
  name: 'direct',
  start: ({ upstreamPort }) =>
    Promise.resolve({ url: `http://127.0.0.1:${upstreamPort}/`, pids: [], stop: () => Promise.resolve() }),
};

/** In table order. `direct` first: the others' added latency is computed against it. */
export const TARGETS: readonly Target[] = [
  direct,
  trellis,
  trellisPair,
  nginxProxy,
  haproxy,
  nodePeer('undici-proxy', 'undici-proxy.ts'),
  nodePeer('http-proxy', 'http-proxy.ts'),
  nodePeer('node-tcp-pipe', 'tcp-pipe.ts'),
];
