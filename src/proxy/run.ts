// `trellis proxy`: one process (default) or a primary with N workers sharing the listeners
// (SO_REUSEPORT). The admin endpoint lives in the primary; reloads reach every worker.
import cluster from 'node:cluster';
import { watch } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startAdminServer } from '../admin/admin-server.ts';
import { ConfigError } from '../errors.ts';
import { loadConfigFile } from '../model/load.ts';
import type { ProxyConfig } from '../model/schema.ts';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ClusterMetrics, setupWorkerMetrics } from '../metrics/workers.ts';
import { ProxyServer } from './proxy-server.ts';

export interface RunOptions {
  configFile: string;
  config: ProxyConfig;
  workers: number;
}

const log = pino({ name: 'trellis-proxy', base: { pid: process.pid } }, pino.destination(2));

/** Loads and validates the file; on failure logs every diagnostic and returns undefined. */
async function tryLoad(file: string): Promise<ProxyConfig | undefined> {
  try {
    return await loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(
        { code: err.code, diagnostics: err.diagnostics },
        `config rejected, keeping the one in force:\n${err.message}`,
      );
    } else log.error({ err }, 'config could not be read, keeping the one in force');
    return undefined;
  }
}

/** Calls onChange (debounced) when the file is written or replaced (editors rename over it). */
function watchFile(file: string, onChange: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const base = path.basename(file);
  const w = watch(path.dirname(path.resolve(file)), (_event, name) => {
    if (name !== null && name !== base) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, 100);
  });
  return () => w.close();
}

export async function runProxy(opts: RunOptions): Promise<void> {
  if (opts.workers > 1 && cluster.isPrimary) return runPrimary(opts);
  const worker = cluster.isWorker;
  const registry = new Registry();
  const stats = new ProxyStats(registry);
  if (worker) setupWorkerMetrics(registry);
  const proxy = new ProxyServer(opts.config, stats);
  await proxy.start();
  log.info({ version: proxy.version, ports: proxy.ports() }, 'proxy listening');

  const reload = async (): Promise<void> => {
    const next = await tryLoad(opts.configFile);
    if (next === undefined) return;
    try {
      await proxy.reload(next);
      log.info({ version: next.version }, 'config reloaded');
    } catch (err) {
      log.error({ err }, 'config could not be applied, keeping the one in force');
    }
  };

  let stopWatching = (): void => {};
  let admin: { close(): Promise<void> } | undefined;
  if (worker) {
    process.on('message', (msg) => {
      if (msg === 'trellis:reload') void reload();
    });
  } else {
    const a = opts.config.admin;
    admin = await startAdminServer(a.address, a.port, {
      ready: () => proxy.ready,
      configDump: () => ({ version: proxy.version, config: proxy.config }),
      metrics: () => registry.metrics(),
      metricsContentType: registry.contentType,
    });
    log.info({ admin: `${a.address}:${a.port}` }, 'admin listening');
    stopWatching = watchFile(opts.configFile, () => void reload());
    process.on('SIGHUP', () => void reload());
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainTimeoutMs: proxy.config.drainTimeout }, 'draining');
    stopWatching();
    await proxy.drain(proxy.config.drainTimeout);
    await admin?.close();
    log.info('drained, exiting');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function runPrimary(opts: RunOptions): Promise<void> {
  const primaryRegistry = new Registry();
  const metrics = new ClusterMetrics({ primaryRegistry });
  let config = opts.config;
  let stopping = false;
  const spawn = (): void => {
    const w = cluster.fork();
    w.on('exit', (code, signal) => {
      if (stopping) return;
      log.error({ worker: w.process.pid, code, signal }, 'worker exited, starting another');
      spawn();
    });
  };
  for (let i = 0; i < opts.workers; i++) spawn();
  const reload = async (): Promise<void> => {
    const next = await tryLoad(opts.configFile);
    if (next === undefined) return;
    config = next;
    for (const w of Object.values(cluster.workers ?? {})) w?.send('trellis:reload');
  };
  const a = config.admin;
  const admin = await startAdminServer(a.address, a.port, {
    ready: () => !stopping && Object.keys(cluster.workers ?? {}).length > 0,
    configDump: () => ({ version: config.version, config }),
    metrics: () => metrics.metrics(),
    metricsContentType: metrics.contentType,
  });
  log.info({ workers: opts.workers, admin: `${a.address}:${a.port}` }, 'primary started');
  const stopWatching = watchFile(opts.configFile, () => void reload());
  process.on('SIGHUP', () => void reload());
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    stopWatching();
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      workers.map(
        (w) => new Promise<void>((resolve) => (w.on('exit', () => resolve()), w.process.kill('SIGTERM'))),
      ),
    );
    await admin.close();
    metrics.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
