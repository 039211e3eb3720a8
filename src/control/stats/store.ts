// The control plane's memory of golden metrics. Each proxy stream reports cumulative values per edge
// cell (message.ts); the store keeps the last values per stream and files the difference into the
// time bucket of its arrival (10 s buckets, 15 minutes kept). A stream's first report counts in
// full (its values start from zero, see sidecar/stats-reporter.ts); a value lower than the last one
// is a reset and counts in full as well, as Prometheus' rate() takes it. When a stream ends its
// baselines go; what it reported stays in the buckets until they age out.
//
// A series is (reporting proxy, labels). The reporting side's own namespace (and service, inbound)
// are taken from the proxy's registration on the stream, never from the message: a proxy can only
// speak for itself. Series no bucket or stream refers to any more are forgotten. The endpoints a
// stream's outlier detection ejected are kept beside, latest report only (ejections.ts).
import { EjectionBook } from './ejections.ts';
import { LATENCY_SLOTS, type StatsMessage } from './message.ts';
import { SumTable } from './sum-table.ts';

export interface ReportingProxy {
  /** The Workload (instance) the proxy registered. */
  readonly name: string;
  readonly namespace: string;
  readonly service: string;
}

export type SeriesReporter = 'source' | 'destination';

export interface SeriesDef {
  readonly kind: 'http' | 'tcp';
  readonly reporter: SeriesReporter;
  readonly labels: Readonly<Record<string, string>>;
  readonly proxy: ReportingProxy;
  /** HTTP: a failure as Linkerd classifies it (5xx, no response, or a gRPC status other than OK). */
  readonly failure: boolean;
}

/** HTTP series values: count, latency sum (ms), then the latency slots. */
export const HTTP_WIDTH = 2 + LATENCY_SLOTS;
/** TCP series values: opened, closed, received bytes, sent bytes. */
export const TCP_WIDTH = 4;

export interface WindowData {
  /** Per series, the sums over the window (HTTP_WIDTH values a row). */
  readonly http: SumTable<SeriesDef>;
  /** Per series, the sums over the window (TCP_WIDTH values a row). */
  readonly tcp: SumTable<SeriesDef>;
  /** Per TCP series, connections open now as the connected proxies last said. */
  readonly open: ReadonlyMap<SeriesDef, number>;
  /** The time the window covers: from its first bucket (or the store's start) to now. */
  readonly fromMs: number;
  readonly toMs: number;
}

/** One bucket of a window (StatsStore.buckets). */
export interface BucketData extends WindowData {
  /** Where the bucket starts (fromMs is later for a bucket the store started in). */
  readonly startMs: number;
}

export interface StatsStoreOptions {
  bucketMs?: number;
  retentionMs?: number;
  /** Distinct series kept at most; entries past it are dropped and counted. */
  maxSeries?: number;
  now?: () => number;
}

interface Bucket {
  readonly start: number;
  readonly http: SumTable<SeriesDef>;
  readonly tcp: SumTable<SeriesDef>;
}

/** One kind of a stream's cells: what each number stands for, and the values it last reported. */
class Baselines {
  readonly defs = new Map<number, SeriesDef>();
  readonly last: SumTable<number>;
  constructor(width: number) {
    this.last = new SumTable(width);
  }
}

interface StreamState {
  readonly proxy: ReportingProxy;
  readonly http: Baselines;
  readonly tcp: Baselines;
  /** Connections open now, per TCP cell number. */
  readonly open: Map<number, number>;
}

export const DEFAULT_BUCKET_MS = 10_000;
export const DEFAULT_RETENTION_MS = 15 * 60_000;
const DEFAULT_MAX_SERIES = 100_000;
/** Cell numbers one stream may define (a proxy makes at most 10,000 cells and as many TCP series). */
const MAX_IDS_PER_STREAM = 20_000;

export class StatsStore {
  readonly bucketMs: number;
  readonly retentionMs: number;
  readonly startedAt: number;
  /** Entries that could not be filed: unknown cell numbers, or past maxSeries. */
  dropped = 0;
  readonly #maxSeries: number;
  readonly #now: () => number;
  readonly #buckets: Bucket[] = [];
  readonly #series = new Map<string, SeriesDef>();
  readonly #streams = new Map<object, StreamState>();
  /** The endpoints each stream's outlier detection has ejected now (ejections.ts). */
  readonly ejections = new EjectionBook();
  readonly #value = new Float64Array(HTTP_WIDTH);
  readonly #delta = new Float64Array(HTTP_WIDTH);

  constructor(opts: StatsStoreOptions = {}) {
    this.bucketMs = opts.bucketMs ?? DEFAULT_BUCKET_MS;
    this.retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
    this.#maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    this.#now = opts.now ?? Date.now;
    this.startedAt = this.#now();
  }

  /** Series known now (for tests and the logs). */
  get seriesCount(): number {
    return this.#series.size;
  }

  /** One report of the stream `stream` (any object standing for it, e.g. its session). */
  ingest(stream: object, proxy: ReportingProxy, msg: StatsMessage): void {
    let state = this.#streams.get(stream);
    if (state === undefined) {
      state = { proxy, http: new Baselines(HTTP_WIDTH), tcp: new Baselines(TCP_WIDTH), open: new Map() };
      this.#streams.set(stream, state);
    }
    if (msg.ejected !== undefined) this.ejections.report(stream, proxy, msg.ejected);
    const bucket = this.#bucket(this.#now());
    const value = this.#value;
    for (const e of msg.requests ?? []) {
      const def = this.#def(state, state.http, e.id, e.labels);
      if (def === undefined) continue;
      value[0] = e.count;
      value[1] = e.latencySumMs;
      value.set(e.latency, 2);
      this.#file(bucket.http, def, state.http.last, e.id, value, 1);
    }
    for (const e of msg.tcp ?? []) {
      const def = this.#def(state, state.tcp, e.id, e.labels);
      if (def === undefined) continue;
      value[0] = e.opened;
      value[1] = e.closed;
      value[2] = e.receivedBytes;
      value[3] = e.sentBytes;
      this.#file(bucket.tcp, def, state.tcp.last, e.id, value, TCP_WIDTH);
      state.open.set(e.id, e.open);
    }
  }

  /** The stream is gone: its baselines (and its open connections) go; its buckets stay. */
  endStream(stream: object): void {
    this.#streams.delete(stream);
    this.ejections.end(stream);
  }

  /** Sums of every series over the last `windowMs` (whole buckets: at least the window). */
  window(windowMs: number): WindowData {
    const { now, from, buckets } = this.#range(windowMs);
    const http = new SumTable<SeriesDef>(HTTP_WIDTH, 256);
    const tcp = new SumTable<SeriesDef>(TCP_WIDTH);
    for (const b of buckets) {
      http.addAll(b.http);
      tcp.addAll(b.tcp);
    }
    return { http, tcp, open: this.#openNow(), fromMs: Math.max(from, this.startedAt), toMs: now };
  }

  /**
   * The same window bucket by bucket, oldest first: one entry per bucket period, empty where no
   * report came. Each covers its bucket (from the store's start, to now for the current one); only
   * the current one carries the connections open now.
   */
  buckets(windowMs: number): BucketData[] {
    const { now, from, buckets } = this.#range(windowMs);
    const current = bucketStart(now, this.bucketMs);
    const out: BucketData[] = [];
    let i = 0;
    // Nothing is known of the time before this store started: no points for it (not zeros).
    const first = Math.max(from, bucketStart(this.startedAt, this.bucketMs));
    for (let start = first; start <= current; start += this.bucketMs) {
      while (i < buckets.length && buckets[i]!.start < start) i++;
      const b = buckets[i]?.start === start ? buckets[i] : undefined;
      const last = start === current;
      out.push({
        startMs: start,
        http: b?.http ?? new SumTable(HTTP_WIDTH, 1),
        tcp: b?.tcp ?? new SumTable(TCP_WIDTH, 1),
        open: last ? this.#openNow() : new Map(),
        fromMs: Math.max(start, this.startedAt),
        toMs: last ? now : start + this.bucketMs,
      });
    }
    return out;
  }

  /** Now, the start of the window's first bucket (at or before now − windowMs), and its buckets. */
  #range(windowMs: number): { now: number; from: number; buckets: Bucket[] } {
    const now = this.#now();
    this.#prune(now);
    const from = bucketStart(now - windowMs, this.bucketMs);
    return { now, from, buckets: this.#buckets.filter((b) => b.start >= from) };
  }

  /** Per TCP series, connections open now as the connected proxies last said. */
  #openNow(): Map<SeriesDef, number> {
    const open = new Map<SeriesDef, number>();
    for (const s of this.#streams.values())
      for (const [id, n] of s.open) {
        const def = s.tcp.defs.get(id);
        if (def !== undefined && n > 0) open.set(def, (open.get(def) ?? 0) + n);
      }
    return open;
  }

  /** The series a cell number stands for on this stream; labels (re)define it and zero its baseline. */
  #def(
    state: StreamState,
    kind: Baselines,
    id: number,
    labels: Readonly<Record<string, string>> | undefined,
  ): SeriesDef | undefined {
    if (labels === undefined) {
      const def = kind.defs.get(id);
      if (def === undefined) this.dropped++;
      return def;
    }
    const def = this.#intern(kind === state.http ? 'http' : 'tcp', state.proxy, labels);
    if (def === undefined) {
      this.dropped++;
      return undefined;
    }
    const known = kind.defs.get(id);
    if (known === undefined && kind.defs.size >= MAX_IDS_PER_STREAM) {
      this.dropped++;
      return undefined;
    }
    if (known !== def) {
      kind.defs.set(id, def);
      kind.last.values.fill(0, kind.last.row(id), kind.last.row(id) + kind.last.width);
    }
    return def;
  }

  /**
   * Adds value − last (all of value after a reset: a lower value in any of the first `resetSlots`)
   * to the bucket's row of `def`; value becomes last.
   */
  #file(
    into: SumTable<SeriesDef>,
    def: SeriesDef,
    lastTable: SumTable<number>,
    id: number,
    value: Float64Array,
    resetSlots: number,
  ): void {
    const w = lastTable.width;
    const at = lastTable.row(id);
    const last = lastTable.values;
    let reset = false;
    for (let k = 0; k < resetSlots; k++) reset ||= value[k]! < last[at + k]!;
    const delta = this.#delta;
    let any = false;
    for (let k = 0; k < w; k++) {
      const d = reset ? value[k]! : Math.max(0, value[k]! - last[at + k]!);
      delta[k] = d;
      any ||= d !== 0;
      last[at + k] = value[k]!;
    }
    if (!any) return;
    const row = into.row(def);
    for (let k = 0; k < w; k++) into.values[row + k]! += delta[k]!;
  }

  #intern(
    kind: 'http' | 'tcp',
    proxy: ReportingProxy,
    given: Readonly<Record<string, string>>,
  ): SeriesDef | undefined {
    // Proxies send labels in a fixed order: the text as sent is a cheap key (another order only
    // makes a second def for the same series, which sums the same).
    const key = `${kind}\u0000${proxy.namespace}\u0000${proxy.name}\u0000${proxy.service}\u0000${JSON.stringify(given)}`;
    const known = this.#series.get(key);
    if (known !== undefined) return known;
    if (this.#series.size >= this.#maxSeries) return undefined;
    const reporter: SeriesReporter = given.reporter === 'source' ? 'source' : 'destination';
    const labels: Record<string, string> = { ...given, reporter };
    if (reporter === 'destination') {
      labels.destination_namespace = proxy.namespace;
      labels.destination_service = `${proxy.service}.${proxy.namespace}`;
    } else labels.source_namespace = proxy.namespace;
    const def: SeriesDef = Object.freeze({
      kind,
      reporter,
      labels: Object.freeze(labels),
      proxy: Object.freeze({ name: proxy.name, namespace: proxy.namespace, service: proxy.service }),
      failure: kind === 'http' && isFailure(labels.response_code, labels.grpc_status),
    });
    this.#series.set(key, def);
    return def;
  }

  #bucket(now: number): Bucket {
    const start = bucketStart(now, this.bucketMs);
    const last = this.#buckets[this.#buckets.length - 1];
    if (last !== undefined && last.start >= start) return last; // a clock step back files into the last one
    const b: Bucket = { start, http: new SumTable(HTTP_WIDTH), tcp: new SumTable(TCP_WIDTH) };
    this.#buckets.push(b);
    this.#prune(now);
    return b;
  }

  /** Drops buckets past the retention, then the series nothing refers to any more. */
  #prune(now: number): void {
    let old = 0;
    while (old < this.#buckets.length && this.#buckets[old]!.start + this.bucketMs <= now - this.retentionMs)
      old++;
    if (old === 0) return;
    this.#buckets.splice(0, old);
    const used = new Set<SeriesDef>();
    for (const b of this.#buckets) {
      for (const d of b.http.keys) used.add(d);
      for (const d of b.tcp.keys) used.add(d);
    }
    for (const s of this.#streams.values()) {
      for (const d of s.http.defs.values()) used.add(d);
      for (const d of s.tcp.defs.values()) used.add(d);
    }
    for (const [key, def] of this.#series) if (!used.has(def)) this.#series.delete(key);
  }
}

/**
 * Failure as Linkerd classifies a response: a gRPC status other than OK when there is one, else a
 * 5xx status, or no response at all (status 0). Cells folded into `unknown` by the proxy's series
 * cap say nothing of their responses and count as successes.
 */
export function isFailure(responseCode: string | undefined, grpcStatus: string | undefined): boolean {
  if (grpcStatus === 'unknown' && responseCode === 'unknown') return false;
  if (grpcStatus !== undefined && grpcStatus !== '') return grpcStatus !== '0';
  const code = Number(responseCode);
  return Number.isInteger(code) && (code < 100 || code >= 500);
}

function bucketStart(t: number, bucketMs: number): number {
  return Math.floor(t / bucketMs) * bucketMs;
}
