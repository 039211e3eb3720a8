// The sidecar's golden-metrics reports on the push stream (message shapes: control/stats/message.ts).
// The data path is not touched: every interval this walks the edge cells and TCP series and compares
// each with what it last reported (a request bumps `count`, so a cell changed iff its count did).
// Each report carries, per changed cell, its values minus a per-stream baseline: the values last
// reported on an earlier stream. A fresh control plane therefore sees only what it has not been told
// (no spike after its restart), and counts made while the stream was down arrive with the first
// report of the next one. A cell whose count went down was reset (registry.resetMetrics): its
// baseline becomes zero, and the control plane, seeing a lower value, starts a new baseline too.
import type { EdgeCell, EdgeStats, TcpSeries } from '../metrics/edge-stats.ts';
import {
  LATENCY_SLOTS,
  MAX_EJECTED_ENTRIES,
  MAX_EJECTED_NAME,
  MAX_STATS_ENTRIES,
  type EjectedEndpoint,
  type RequestStatsEntry,
  type StatsMessage,
  type TcpStatsEntry,
} from '../control/stats/message.ts';

/** What a report must not wait behind: past this much unsent on the socket, the tick is skipped. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Request cell vector: count, latency sum, then the latency slots. */
const HTTP_WIDTH = 2 + LATENCY_SLOTS;
const TCP_WIDTH = 4;

/**
 * Per item (cell or TCP series, by creation index): the values last reported (on any stream), then
 * the values last reported on an earlier stream (what this stream's values are relative to). One
 * growable array for all items: no allocation per cell.
 */
class Tracked {
  readonly width: number;
  values: Float64Array;
  /** The stream on which each item's labels were last sent. */
  readonly announced: number[] = [];

  constructor(width: number) {
    this.width = width;
    this.values = new Float64Array(width * 2 * 16);
  }

  /** Makes room for `n` items (new ones all zero). */
  grow(n: number): void {
    while (this.announced.length < n) this.announced.push(-1);
    if (n * 2 * this.width <= this.values.length) return;
    const grown = new Float64Array(Math.max(this.values.length * 2, n * 2 * this.width));
    grown.set(this.values);
    this.values = grown;
  }

  sent(i: number): number {
    return i * 2 * this.width;
  }

  base(i: number): number {
    return i * 2 * this.width + this.width;
  }

  /** A new stream: every baseline becomes what was last reported. */
  rebase(): void {
    for (let i = 0; i < this.announced.length; i++)
      this.values.copyWithin(this.base(i), this.sent(i), this.sent(i) + this.width);
  }
}

/** An endpoint the proxy's outlier detection ejected (ProxyServer.ejectedEndpoints). */
export interface LocalEjection {
  cluster: string;
  address: string;
  port: number;
  /** Until its ejection time is up. */
  remainingMs: number;
}

export interface StatsSink {
  send(msg: StatsMessage): void;
  /** Bytes still queued on the socket. */
  buffered(): number;
}

export class StatsReporter {
  readonly #edge: EdgeStats;
  readonly #maxEntries: number;
  readonly #http = new Tracked(HTTP_WIDTH);
  readonly #tcp = new Tracked(TCP_WIDTH);
  readonly #scratch = new Float64Array(HTTP_WIDTH);
  /** Where the next report starts looking, over request cells then TCP series: no item starves. */
  #cursor = 0;
  #stream = 0;
  #timer: NodeJS.Timeout | undefined;
  #sink: StatsSink | undefined;
  readonly #ejections: (() => readonly LocalEjection[]) | undefined;
  /** The control plane asked for ejected endpoints on this stream (`report-ejections`). */
  #reportEjections = false;
  /** What this stream was last told was ejected (a key per endpoint and end time). */
  #ejectedSent = '';

  constructor(
    edge: EdgeStats,
    opts: { maxEntries?: number; ejections?: () => readonly LocalEjection[] } = {},
  ) {
    this.#edge = edge;
    this.#maxEntries = Math.min(opts.maxEntries ?? MAX_STATS_ENTRIES, MAX_STATS_ENTRIES);
    this.#ejections = opts.ejections;
  }

  /** The control plane reads `ejected`: reports carry the ejected endpoints whenever they change. */
  reportEjections(): void {
    this.#reportEjections = true;
  }

  /** A new stream asked for reports every `intervalMs`: baselines move to what was last reported. */
  start(intervalMs: number, sink: StatsSink): void {
    this.stop();
    this.#stream++;
    this.#http.rebase();
    this.#tcp.rebase();
    // A new stream knows of no ejection, and sends ejections only if it asks (after this message).
    this.#reportEjections = false;
    this.#ejectedSent = '';
    this.#sink = sink;
    this.#timer = setInterval(() => this.flush(), intervalMs);
    this.#timer.unref();
  }

  /** The stream is gone: no more reports until the next one asks. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sink = undefined;
  }

  /** Sends what changed now (each tick, and once before a goodbye). */
  flush(): void {
    const sink = this.#sink;
    if (sink === undefined || sink.buffered() > MAX_BUFFERED_BYTES) return;
    const msg = this.collect();
    if (msg !== undefined) sink.send(msg);
  }

  /** The next report, or undefined when nothing changed; marks what it holds as reported. */
  collect(): StatsMessage | undefined {
    const cells = this.#edge.cells;
    const series = this.#edge.tcpSeries;
    this.#http.grow(cells.length);
    this.#tcp.grow(series.length);
    const total = cells.length + series.length;
    const requests: RequestStatsEntry[] = [];
    const tcp: TcpStatsEntry[] = [];
    if (this.#cursor >= total) this.#cursor = 0;
    let i = this.#cursor;
    for (let seen = 0; seen < total && requests.length + tcp.length < this.#maxEntries; seen++) {
      if (i < cells.length) {
        const entry = this.#requestEntry(i, cells[i]!);
        if (entry !== undefined) requests.push(entry);
      } else {
        const entry = this.#tcpEntry(i - cells.length, series[i - cells.length]!);
        if (entry !== undefined) tcp.push(entry);
      }
      i = i + 1 === total ? 0 : i + 1;
    }
    this.#cursor = i;
    const ejected = this.#ejectedChange();
    if (requests.length === 0 && tcp.length === 0 && ejected === undefined) return undefined;
    return {
      type: 'stats',
      ...(requests.length > 0 ? { requests } : {}),
      ...(tcp.length > 0 ? { tcp } : {}),
      ...(ejected !== undefined ? { ejected } : {}),
    };
  }

  /** The endpoints ejected now when that differs from what the stream was last told. */
  #ejectedChange(): EjectedEndpoint[] | undefined {
    if (!this.#reportEjections || this.#ejections === undefined) return undefined;
    const now = Date.now();
    // Within the message's bounds: a control plane refuses (and closes) a stream that breaks them.
    const list = this.#ejections()
      .filter((e) => e.cluster.length <= MAX_EJECTED_NAME && e.address.length <= MAX_EJECTED_NAME)
      .slice(0, MAX_EJECTED_ENTRIES)
      .map((e) => ({
        cluster: e.cluster,
        address: e.address,
        port: e.port,
        untilMs: Math.round(now + Math.max(0, e.remainingMs)),
      }));
    // Whole seconds: the same ejection, read at two ticks, must not look like a new one.
    const key = list
      .map((e) => `${e.cluster} ${e.address} ${e.port} ${Math.round(e.untilMs / 1000)}`)
      .join('\n');
    if (key === this.#ejectedSent) return undefined;
    this.#ejectedSent = key;
    return list;
  }

  #requestEntry(id: number, cell: EdgeCell): RequestStatsEntry | undefined {
    const t = this.#http;
    if (cell.count === t.values[t.sent(id)]) return undefined;
    const now = this.#scratch;
    now[0] = cell.count;
    now[1] = cell.latencySumMs;
    now.set(cell.latency, 2);
    const v = this.#relative(t, id, now);
    return {
      id,
      ...this.#labels(t, id, cell.labels),
      count: v[0]!,
      latencySumMs: v[1]!,
      latency: v.slice(2),
    };
  }

  #tcpEntry(id: number, s: TcpSeries): TcpStatsEntry | undefined {
    const t = this.#tcp;
    const { values } = t;
    const at = t.sent(id);
    if (
      s.opened === values[at] &&
      s.closed === values[at + 1] &&
      s.receivedBytes === values[at + 2] &&
      s.sentBytes === values[at + 3]
    )
      return undefined;
    const now = this.#scratch.subarray(0, TCP_WIDTH);
    now[0] = s.opened;
    now[1] = s.closed;
    now[2] = s.receivedBytes;
    now[3] = s.sentBytes;
    const v = this.#relative(t, id, now);
    return {
      id,
      ...this.#labels(t, id, s.labels),
      opened: v[0]!,
      closed: v[1]!,
      receivedBytes: v[2]!,
      sentBytes: v[3]!,
      open: Math.max(0, s.opened - s.closed),
    };
  }

  /** `now` minus the baseline (zeroed first when a counter went down: a reset); records `now` as sent. */
  #relative(t: Tracked, id: number, now: Float64Array): number[] {
    const { values } = t;
    const base = t.base(id);
    let reset = false;
    for (let k = 0; k < now.length && !reset; k++) reset = now[k]! < values[base + k]!;
    if (reset) values.fill(0, base, base + t.width);
    const out = new Array<number>(now.length);
    for (let k = 0; k < now.length; k++) out[k] = now[k]! - values[base + k]!;
    values.set(now, t.sent(id));
    return out;
  }

  #labels(
    t: Tracked,
    id: number,
    labels: Readonly<Record<string, string>>,
  ): { labels?: Record<string, string> } {
    if (t.announced[id] === this.#stream) return {};
    t.announced[id] = this.#stream;
    return { labels: { ...labels } };
  }
}
