// A metric family whose values are read from plain counters when the Registry is scraped.
// It has the shape prom-client's Registry reads from its own metric classes: name, help, type,
// aggregator and get() → {name, help, type, values, aggregator}, where each value may carry a
// metricName (histograms: _bucket/_sum/_count). The same shape is what getMetricsAsJSON() sends
// from cluster workers, so AggregatorRegistry.aggregate() sums it series by series.

export type FamilyType = 'counter' | 'gauge' | 'histogram';

export interface SeriesValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export interface FamilySnapshot {
  name: string;
  help: string;
  type: FamilyType;
  values: SeriesValue[];
  aggregator: 'sum';
}

export interface FamilySource {
  /** Appends the current series; runs at scrape time, never on the hot path. */
  read(out: SeriesValue[]): void;
  /** Registry.resetMetrics(): zero the counts behind this family. */
  reset(): void;
}

export class ScrapedFamily {
  /** Writable: Registry rewrites counter names when switched to OpenMetrics. */
  name: string;
  readonly help: string;
  readonly type: FamilyType;
  /** Across cluster workers every Trellis series is a sum (counts, buckets, open connections). */
  readonly aggregator = 'sum' as const;
  readonly #source: FamilySource;

  constructor(name: string, help: string, type: FamilyType, source: FamilySource) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#source = source;
  }

  get(): Promise<FamilySnapshot> {
    const values: SeriesValue[] = [];
    this.#source.read(values);
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  reset(): void {
    this.#source.reset();
  }
}
