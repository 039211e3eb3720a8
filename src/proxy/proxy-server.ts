// The proxy in one process: its listeners and the config in force. A reload compiles the new
// config aside and swaps it in one assignment; requests in flight finish on the config they began with.
import { closeAccessLog, flushAccessLogs } from '../accesslog/sink.ts';
import type { ProxyStats } from '../metrics/proxy-stats.ts';
import type { Listener, ProxyConfig } from '../model/schema.ts';
import { TransportRegistry } from './transports.ts';
import { compileConfig, type CompiledConfig } from './compiled-config.ts';
import { ListenerRuntime } from './listener.ts';
import { TapHub } from '../tap/hub.ts';

/** Listeners that bind the same socket the same way can keep their socket across a reload. */
function bindKey(l: Listener): string {
  return JSON.stringify([l.address, l.port, l.protocol, l.tls ?? null]);
}

export class ProxyServer {
  private readonly stats: ProxyStats;
  private readonly transports = new TransportRegistry();
  /** Live tap sessions (`trellis tap`): owned here so that they outlive reloads. */
  readonly tap = new TapHub();
  private readonly listeners = new Map<string, { runtime: ListenerRuntime; keys: string[] }>();
  private current: CompiledConfig;
  private draining = false;
  private started = false;

  constructor(config: ProxyConfig, stats: ProxyStats) {
    this.stats = stats;
    this.current = compileConfig(config, this.transports, stats, this.tap);
    this.committed();
  }

  /** The config in force is final: drop the connection pools and counters only older configs used. */
  private committed(): void {
    this.transports.meshTls = this.current.meshTls;
    this.transports.sweep();
    this.stats.retainOnly(this.current.counters);
  }

  get version(): string {
    return this.current.version;
  }

  get config(): ProxyConfig {
    return this.current.config;
  }

  get ready(): boolean {
    return this.started && !this.draining;
  }

  /**
   * The endpoints outlier detection has ejected now, in the clusters of the config in force, and
   * how long until their ejection time is up (the sidecar reports them: stats-reporter.ts).
   */
  ejectedEndpoints(): { cluster: string; address: string; port: number; remainingMs: number }[] {
    const out = [];
    const now = performance.now(); // the detectors' clock (protection/outlier.ts)
    for (const c of this.current.config.clusters)
      for (const ep of this.transports.endpointsOf(c.name) ?? [])
        if (ep.ejected) {
          const remainingMs = Math.max(0, ep.outlier.ejectedAtMs + ep.outlier.ejectionMs - now);
          out.push({ cluster: c.name, address: ep.address, port: ep.port, remainingMs });
        }
    return out;
  }

  /** Bound ports by listener name (useful when a config asks for port 0). */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, l] of this.listeners) out[name] = l.runtime.port;
    return out;
  }

  async start(): Promise<void> {
    await this.syncListeners();
    this.started = true;
  }

  /** Swaps in a new config. Throws (and keeps the old config) if it cannot be compiled or bound. */
  async reload(config: ProxyConfig): Promise<void> {
    const previous = this.current;
    this.current = compileConfig(config, this.transports, this.stats, this.tap);
    try {
      await this.syncListeners();
    } catch (err) {
      this.current = previous;
      await this.syncListeners().catch(() => {});
      throw err;
    }
    this.committed();
    // The old config's spans still in flight finish, then it lets go of its export pipeline.
    void previous.tracer?.shutdown();
    const oldLog = previous.config.telemetry.accessLog;
    const newLog = this.current.config.telemetry.accessLog;
    if (oldLog.enabled && (!newLog.enabled || newLog.path !== oldLog.path)) closeAccessLog(oldLog.path);
  }

  private async syncListeners(): Promise<void> {
    const wanted = this.current.listeners;
    for (const [name, entry] of this.listeners) {
      const view = wanted.get(name);
      if (view === undefined || !entry.keys.includes(bindKey(view.listener))) {
        entry.runtime.drain();
        this.listeners.delete(name);
      }
    }
    for (const [name, view] of wanted) {
      const existing = this.listeners.get(name);
      if (existing !== undefined) {
        existing.runtime.update(view);
        continue;
      }
      const runtime = new ListenerRuntime(view, this.stats.listenerConnections(name));
      await runtime.listen();
      // A `port: 0` listener keeps its socket both when the next config says 0 again and when it
      // names the port that was picked (a sidecar registers that port, then is sent it back).
      const keys = [bindKey(view.listener), bindKey({ ...view.listener, port: runtime.port })];
      this.listeners.set(name, { runtime, keys });
    }
  }

  /**
   * Graceful drain: stop accepting, let requests in flight finish (idle keep-alive connections
   * close now, busy ones after their response), and after timeoutMs close whatever is left.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const runtimes = [...this.listeners.values()].map((l) => l.runtime);
    for (const r of runtimes) r.drain();
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline && runtimes.some((r) => r.openConnections > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const r of runtimes) r.destroy();
    this.transports.closeAll();
    flushAccessLogs();
    await this.current.tracer?.flush();
  }
}
