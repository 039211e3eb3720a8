// End-to-end harness: runs the real `trellis proxy` process (same Node, real config file) and
// real upstream servers on loopback, all on ports the OS picks. Every helper returns something
// with a close()/stop() the test registers in `after`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ProxyConfigInput } from '../../src/model/schema.ts';
import { listen, portOf } from '../support/sockets.ts';

// The `trellis` command as users start it: the build in dist/ (scripts/test.ts builds before the
// tests), or the sources when one is newer than the build, so a test never runs stale code.
const TRELLIS = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));

/** One pino line from the proxy's stderr. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface ProxyProcess {
  pid: number;
  /** Bound ports by listener name, from the "proxy listening" line (first worker's with --workers). */
  ports: Record<string, number>;
  adminPort: number;
  configFile: string;
  dir: string;
  logs: LogLine[];
  /** Raw stderr lines that were not JSON (e.g. a crash trace). */
  rawStderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line (already seen or to come) that satisfies `pred`. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Rewrites the config file (admin port kept). The proxy's watcher picks it up. */
  writeConfig(config: ProxyConfigInput | string): Promise<void>;
  /** SIGTERM, wait for exit (SIGKILL after 10 s as a last resort), remove the temp dir. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  adminGet(path: string): Promise<{ status: number; body: string }>;
}

/** A port that was free a moment ago (bind 0, read, close). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface StartProxyOptions {
  workers?: number;
  /** Log line that marks the proxy ready (default: "admin listening", or "primary started" + workers). */
  timeoutMs?: number;
}

function withAdmin(config: ProxyConfigInput, adminPort: number): ProxyConfigInput {
  return { ...config, admin: { address: '127.0.0.1', port: adminPort } };
}

export async function startProxy(
  config: ProxyConfigInput,
  opts: StartProxyOptions = {},
): Promise<ProxyProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-e2e-'));
  const configFile = join(dir, 'proxy.yaml');
  const adminPort = await freePort();
  await writeFile(configFile, stringify(withAdmin(config, adminPort)));
  const workers = opts.workers ?? 1;
  const child: ChildProcess = spawn(
    process.execPath,
    [TRELLIS, 'proxy', '--config', configFile, ...(workers > 1 ? ['--workers', String(workers)] : [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: LogLine[] = [];
  const rawStderr: string[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let buffered = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        rawStderr.push(line);
        continue;
      }
      if (typeof parsed !== 'object' || parsed === null) continue;
      const entry = parsed as LogLine;
      logs.push(entry);
      for (const w of waiters) {
        if (w.pred(entry)) {
          waiters.delete(w);
          w.resolve(entry);
        }
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => (done = true));

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`log line not seen within ${timeoutMs}ms; stderr:\n${dump()}`));
      }, timeoutMs);
      waiters.add(w);
      void exited.then(() => {
        if (!waiters.has(w)) return;
        waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`proxy exited before the log line; stderr:\n${dump()}`));
      });
    });
  };
  const dump = (): string => [...logs.map((l) => JSON.stringify(l)), ...rawStderr].join('\n');

  const stop = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (!done) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const result = await exited;
    clearTimeout(killer);
    await rm(dir, { recursive: true, force: true });
    return result;
  };

  try {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    let ports: Record<string, number>;
    if (workers > 1) {
      const listening = await waitForLog((l) => l.msg === 'proxy listening', timeoutMs);
      ports = listening.ports as Record<string, number>;
      await waitForLog((l) => l.msg === 'primary started', timeoutMs);
      // Every worker is listening once as many "proxy listening" lines were seen.
      const deadline = Date.now() + timeoutMs;
      while (logs.filter((l) => l.msg === 'proxy listening').length < workers && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
    } else {
      const listening = await waitForLog((l) => l.msg === 'proxy listening', timeoutMs);
      ports = listening.ports as Record<string, number>;
      await waitForLog((l) => l.msg === 'admin listening', timeoutMs);
    }
    return {
      pid: child.pid!,
      ports,
      adminPort,
      configFile,
      dir,
      logs,
      rawStderr,
      exited,
      waitForLog,
      writeConfig: async (next) => {
        const text = typeof next === 'string' ? next : stringify(withAdmin(next, adminPort));
        // Write aside and rename over, as editors do: the watcher never sees a half-written file.
        const tmp = join(dir, `next-${Date.now()}.tmp`);
        await writeFile(tmp, text);
        await rename(tmp, configFile);
      },
      stop,
      adminGet: (path) =>
        httpRequest({ port: adminPort, path }).then((r) => ({ status: r.status, body: r.body })),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------- clients ----------

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request over a fresh connection (no keep-alive). */
export function httpRequest(o: {
  port: number;
  path?: string;
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  agent?: http.Agent | false;
}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path ?? '/',
        method: o.method ?? 'GET',
        headers: o.headers,
        agent: o.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl (bounded by --max-time); never rejects, the exit code is in the result. */
export function curl(args: string[], env?: NodeJS.ProcessEnv): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '15', ...args],
      {
        env: env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command (openssl...) and rejects on a non-zero exit. */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${stderr}`)) : resolve(stdout),
    );
  });
}

// ---------- upstreams ----------

export interface Upstream {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

function track(server: net.Server): { count: () => number; sockets: Set<net.Socket> } {
  let count = 0;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    count++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return { count: () => count, sockets };
}

async function listenOn(server: net.Server): Promise<number> {
  await listen(server);
  return portOf(server);
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

export async function startHttpUpstream(handler: http.RequestListener): Promise<Upstream> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
  const t = track(server);
  const port = await listenOn(server);
  return { port, connections: t.count, close: closer(server, t.sockets) };
}

/** An HTTP/1 upstream that answers every request with its name (and echoes method and path). */
export function startNamedUpstream(name: string): Promise<Upstream> {
  return startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('x-upstream', name);
      res.end(`${name} ${req.method} ${req.url}`);
    });
  });
}

export async function startHttp2Upstream(
  handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<Upstream> {
  const server = http2.createServer();
  server.on('stream', handler);
  const t = track(server);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  const port = await listenOn(server);
  const close = closer(server, t.sockets);
  return {
    port,
    connections: t.count,
    close: () => {
      for (const s of sessions) s.destroy();
      return close();
    },
  };
}

/** TCP echo: writes back every byte it reads. */
export async function startTcpEcho(): Promise<Upstream> {
  const server = net.createServer((s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  const t = track(server);
  const port = await listenOn(server);
  return { port, connections: t.count, close: closer(server, t.sockets) };
}

/** A port nothing listens on (bound, then closed). */
export const closedPort = freePort;

// ---------- config builders ----------

type ClusterInput = NonNullable<ProxyConfigInput['clusters']>[number];
type ListenerInput = NonNullable<ProxyConfigInput['listeners']>[number];
type RouteInput = NonNullable<
  ProxyConfigInput['routeTables']
>[number]['virtualHosts'][number]['routes'][number];

/** One listener "main" (`port: 0`) on route table "rt", one virtual host (default "*"). */
export function simpleConfig(o: {
  version?: string;
  listener?: Partial<ListenerInput>;
  routes: RouteInput[];
  clusters: ClusterInput[];
  domains?: string[];
  extra?: Partial<ProxyConfigInput>;
}): ProxyConfigInput {
  return {
    version: o.version ?? 'e2e-1',
    listeners: [{ name: 'main', direction: 'outbound', port: 0, routeTable: 'rt', ...o.listener }],
    routeTables: [
      { name: 'rt', virtualHosts: [{ name: 'all', domains: o.domains ?? ['*'], routes: o.routes }] },
    ],
    clusters: o.clusters,
    ...o.extra,
  };
}

/** A round-robin cluster over 127.0.0.1 ports; `extra` overrides (protocol, lb...). */
export function cluster(name: string, ports: number[], extra: Partial<ClusterInput> = {}): ClusterInput {
  return {
    name,
    lb: { policy: 'round_robin' },
    ...extra,
    endpoints: ports.map((port) => ({ address: '127.0.0.1', port })),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true (bounded by count and time). */
export async function eventually(
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
  stepMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await sleep(stepMs);
  }
}
