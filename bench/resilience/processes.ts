// The processes of the resilience scenario, each a pinned child of the bench tracked by PID
// (bench/proc.ts kills whatever is left on exit): upstream instances that can be SIGKILLed,
// restarted on the same port and made slow, and the Trellis proxy in front of them.
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { spawnPinned, stop, type Spawned } from '../proc.ts';
import { freePort } from '../targets.ts';
import { resilienceConfig, type Variant } from './config.ts';
import type { UpstreamStats } from './upstream.ts';

const UPSTREAM = fileURLToPath(new URL('upstream.ts', import.meta.url));
const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));
const START_LIMIT_MS = 10_000;

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One GET on loopback, bounded in time; status 0 when it failed. */
export function httpGet(url: string, timeoutMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/** Resolves with the first stdout line of `s`; rejects when it exits or after `ms`. */
function firstLine(s: Spawned, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no output after ${ms} ms: ${s.output()}`)), ms);
    s.child.stdout?.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    void s.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} during start-up: ${s.output().trim().slice(-400)}`));
    });
  });
}

/** An upstream instance; `kill` and `restart` keep its port (the proxy's config names it). */
export class Instance {
  readonly name: string;
  readonly core: number;
  port = 0;
  #proc: Spawned | undefined;

  constructor(name: string, core: number) {
    this.name = name;
    this.core = core;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts the process (on a free port the first time, then on the same one). */
  async start(): Promise<void> {
    const proc = spawnPinned(this.core, process.execPath, [UPSTREAM, '--port', String(this.port)]);
    this.#proc = proc;
    try {
      const line = await firstLine(proc, START_LIMIT_MS);
      const port = (JSON.parse(line) as { port?: unknown }).port;
      if (typeof port !== 'number') throw new Error(`unexpected first line: ${line}`);
      this.port = port;
    } catch (err) {
      await stop(proc);
      this.#proc = undefined;
      throw new Error(`instance ${this.name}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }

  /** SIGKILL, as a crash: no FIN-then-drain, the kernel closes its sockets. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc) await stop(proc);
  }

  async setDelay(ms: number): Promise<void> {
    const r = await httpGet(`http://127.0.0.1:${this.port}/__bench/delay?ms=${ms}`);
    if (r.status !== 200) throw new Error(`instance ${this.name}: delay=${ms} answered ${r.status}`);
  }

  /** What this process served (a restarted instance counts from its restart); null when down. */
  async stats(): Promise<UpstreamStats | null> {
    if (!this.#proc) return null;
    const r = await httpGet(`http://127.0.0.1:${this.port}/__bench/stats`);
    return r.status === 200 ? (JSON.parse(r.body) as UpstreamStats) : null;
  }
}

export interface RunningProxy {
  url: string;
  adminUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * `node bin/trellis.js proxy --config FILE`, from the sources as they are now (TRELLIS_ENTRY=src):
 * the policy code under test changes while this bench is being written, and a build in dist/ is
 * shared with other runs. Ready once a GET through it reaches an instance.
 */
export async function startProxy(
  tmp: string,
  core: number,
  variant: Variant,
  upstreamPorts: readonly number[],
): Promise<RunningProxy> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(tmp, `resilience-${variant}.yaml`);
  writeFileSync(file, stringify(resilienceConfig(variant, { port, adminPort, upstreamPorts })));
  const env = { ...process.env, TRELLIS_ENTRY: 'src' };
  const proc = spawnPinned(core, process.execPath, [TRELLIS_BIN, 'proxy', '--config', file], env);
  const url = `http://127.0.0.1:${port}/`;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const deadline = performance.now() + START_LIMIT_MS;
  for (;;) {
    if (exited) throw new Error(`proxy exited during start-up: ${proc.output().trim().slice(-600)}`);
    if ((await httpGet(url, 1000)).status === 200) break;
    if (performance.now() > deadline) {
      await stop(proc);
      throw new Error(`proxy not ready after ${START_LIMIT_MS} ms: ${proc.output().trim().slice(-600)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, adminUrl: `http://127.0.0.1:${adminPort}`, pid: proc.pid, stop: () => stop(proc) };
}

/** Sums of the proxy's counters by name (labels summed away), from its Prometheus page. */
export async function scrapeCounters(
  adminUrl: string,
  names: readonly string[],
): Promise<Record<string, number>> {
  const r = await httpGet(`${adminUrl}/metrics`);
  return sumCounters(r.status === 200 ? r.body : '', names);
}

/** Sums the samples of each named metric in a Prometheus text page (0 when absent). */
export function sumCounters(text: string, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    const name = m?.[1];
    if (m === null || name === undefined || !(name in out)) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out[name] = (out[name] ?? 0) + v;
  }
  return out;
}
