// `trellis proxy`: one process (default) or a primary with N workers sharing the listeners
// (SO_REUSEPORT). The admin endpoint lives in the primary; reloads reach every worker.
import { redactSecrets } from '../admin/redact.ts';
import cluster from 'node:cluster';
import { watch } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { startAdminServer } from '../admin/admin-server.ts';
import { ConfigError } from '../errors.ts';
import { loadConfigFile } from '../model/load.ts';
import { ProxyConfig } from '../model/schema.ts';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ClusterMetrics, setupWorkerMetrics } from '../metrics/workers.ts';
import { ProxyServer } from './proxy-server.ts';
import { createLogger } from '../log.ts';
import { shutdownTracing } from '../tracing/tracer.ts';

export interface RunOptions {
  configFile: string;
  config: ProxyConfig;
  workers: number;
}

const log = createLogger('trellis-proxy');

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

/** The message a primary sends its workers: the validated config to serve (at start and on reload). */
interface ConfigMessage {
  type: 'trellis:config';
  config: ProxyConfig;
}

function isConfigMessage(msg: unknown): msg is ConfigMessage {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'trellis:config';
}

interface StopHooks {
  /** Before the drain: stop whatever could reload or change the proxy. */
  beforeDrain?: () => void;
  /** After the drain, before exit. */
  afterDrain?: () => Promise<void>;
}

/**
 * Serves `config` in this process and drains on SIGTERM/SIGINT; returns the proxy and its
 * registry. `hooks` may be filled in after this returns.
 */
async function serve(
  config: ProxyConfig,
  hooks: StopHooks,
): Promise<{ proxy: ProxyServer; registry: Registry }> {
  const registry = new Registry();
  const stats = new ProxyStats(registry);
  if (cluster.isWorker) setupWorkerMetrics(registry);
  const proxy = new ProxyServer(config, stats);
  await proxy.start();
  log.info({ version: proxy.version, ports: proxy.ports() }, 'proxy listening');
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainTimeoutMs: proxy.config.drainTimeout }, 'draining');
    hooks.beforeDrain?.();
    await proxy.drain(proxy.config.drainTimeout);
    await hooks.afterDrain?.();
    await shutdownTracing();
    log.info('drained, exiting');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return { proxy, registry };
}

/** What made the proxy read its config again: the file changed, SIGHUP, or (a worker) the primary. */
type ReloadTrigger = 'file' | 'SIGHUP' | 'primary';

async function apply(proxy: ProxyServer, next: ProxyConfig, trigger: ReloadTrigger): Promise<void> {
  try {
    await proxy.reload(next);
    log.info({ version: next.version, trigger }, 'config reloaded');
  } catch (err) {
    log.error({ err }, 'config could not be applied, keeping the one in force');
  }
}

export async function runProxy(opts: RunOptions): Promise<void> {
  if (opts.workers > 1) return runPrimary(opts);
  const hooks: StopHooks = {};
  const { proxy, registry } = await serve(opts.config, hooks);
  const reload = async (trigger: ReloadTrigger): Promise<void> => {
    const next = await tryLoad(opts.configFile);
    if (next !== undefined) await apply(proxy, next, trigger);
  };
  const a = opts.config.admin;
  const admin = await startAdminServer(a.address, a.port, {
    ready: () => proxy.ready,
    configDump: () => ({ version: proxy.version, config: redactSecrets(proxy.config) }),
    metrics: () => registry.metrics(),
    metricsContentType: registry.contentType,
  });
  log.info({ admin: `${a.address}:${a.port}` }, 'admin listening');
  hooks.afterDrain = () => admin.close();
  hooks.beforeDrain = watchFile(opts.configFile, () => void reload('file'));
  process.on('SIGHUP', () => void reload('SIGHUP'));
}

/**
 * A worker of `--workers N`: it never reads the config file. The primary sends the config it
 * validated, at start and on every reload, so a worker started after the file went bad still
 * serves the last good config.
 */
export async function runWorker(): Promise<void> {
  const first = await new Promise<ConfigMessage>((resolve) => {
    const onMessage = (msg: unknown): void => {
      if (!isConfigMessage(msg)) return;
      process.off('message', onMessage);
      resolve(msg);
    };
    process.on('message', onMessage);
  });
  const { proxy } = await serve(ProxyConfig.parse(first.config), {});
  process.on('message', (msg: unknown) => {
    if (isConfigMessage(msg)) void apply(proxy, ProxyConfig.parse(msg.config), 'primary');
  });
}

async function runPrimary(opts: RunOptions): Promise<void> {
  const primaryRegistry = new Registry();
  const metrics = new ClusterMetrics({ primaryRegistry });
  let config = opts.config;
  let stopping = false;
  const message = (): ConfigMessage => ({ type: 'trellis:config', config });
  const spawn = (): void => {
    const w = cluster.fork();
    w.once('online', () => w.send(message()));
    w.on('exit', (code, signal) => {
      if (stopping) return;
      log.error({ worker: w.process.pid, code, signal }, 'worker exited, starting another');
      spawn();
    });
  };
  for (let i = 0; i < opts.workers; i++) spawn();
  const reload = async (trigger: ReloadTrigger): Promise<void> => {
    const next = await tryLoad(opts.configFile);
    if (next === undefined) return;
    config = next;
    log.info({ version: next.version, trigger, workers: opts.workers }, 'config sent to the workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.send(message());
  };
  const a = config.admin;
  const admin = await startAdminServer(a.address, a.port, {
    ready: () => !stopping && Object.keys(cluster.workers ?? {}).length > 0,
    configDump: () => ({ version: config.version, config: redactSecrets(config) }),
    metrics: () => metrics.metrics(),
    metricsContentType: metrics.contentType,
  });
  log.info({ workers: opts.workers, admin: `${a.address}:${a.port}` }, 'primary started');
  const stopWatching = watchFile(opts.configFile, () => void reload('file'));
  process.on('SIGHUP', () => void reload('SIGHUP'));
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
