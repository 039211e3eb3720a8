// Rows of numbers keyed by an object, all in one growable Float64Array: a bucket of the stats store
// holds thousands of series, and one typed array per series would cost an allocation (and a GC
// object) each; here a new row costs a Map entry, and the storage doubles when it runs out.

export class SumTable<K> {
  readonly width: number;
  /** Row i belongs to keys[i]; its values are values[i × width …]. */
  readonly keys: K[] = [];
  values: Float64Array;
  readonly #rows = new Map<K, number>();

  constructor(width: number, capacity = 16) {
    this.width = width;
    this.values = new Float64Array(width * capacity);
  }

  get size(): number {
    return this.keys.length;
  }

  /** The offset of `key`'s row in `values`, made (zeroed) if it has none. */
  row(key: K): number {
    const known = this.#rows.get(key);
    if (known !== undefined) return known * this.width;
    const i = this.keys.length;
    if ((i + 1) * this.width > this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.keys.push(key);
    this.#rows.set(key, i);
    return i * this.width;
  }

  /** The offset of `key`'s row, or -1. */
  find(key: K): number {
    const i = this.#rows.get(key);
    return i === undefined ? -1 : i * this.width;
  }

  /** Adds every row of `other` (same width) to this table's rows of the same keys. */
  addAll(other: SumTable<K>): void {
    const w = this.width;
    for (let i = 0; i < other.keys.length; i++) {
      const at = this.row(other.keys[i]!);
      const from = i * w;
      for (let k = 0; k < w; k++) this.values[at + k]! += other.values[from + k]!;
    }
  }
}
