// Objects that outlive one config: kept by key across reloads and stopped once a committed config
// no longer asks for them, the way TransportRegistry keeps connection pools. A reload that leaves a
// cluster's settings alone keeps its timers, health-check streaks and adaptive limit running.

export interface Stoppable {
  stop(): void;
}

export class GenerationCache<T extends Stoppable> {
  readonly #items = new Map<string, T>();
  #inUse = new Set<string>();

  /** The object for `key`, made by `create` the first time; marks it used by the config being compiled. */
  get(key: string, create: () => T): T {
    let item = this.#items.get(key);
    if (item === undefined) {
      item = create();
      this.#items.set(key, item);
    }
    this.#inUse.add(key);
    return item;
  }

  /** A config is being compiled: what it does not ask for is stopped by the next sweep(). */
  begin(): void {
    this.#inUse = new Set();
  }

  sweep(): void {
    for (const [key, item] of this.#items) {
      if (this.#inUse.has(key)) continue;
      item.stop();
      this.#items.delete(key);
    }
  }

  stopAll(): void {
    for (const item of this.#items.values()) item.stop();
    this.#items.clear();
  }

  get size(): number {
    return this.#items.size;
  }
}
