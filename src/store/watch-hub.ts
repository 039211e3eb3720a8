// In-process fan-out of store events to watchers. Writers publish synchronously inside their write; each
// watcher's callback runs later (setImmediate), so a callback never re-enters put(), and a watcher
// registered with its replay in the same tick as the write it follows misses nothing.
import type { StoreError } from './errors.ts';
import type { WatchEvent } from './types.ts';

interface Watcher {
  prefix: string;
  onEvent: (events: WatchEvent[]) => void;
  onError: ((err: StoreError) => void) | undefined;
  pending: WatchEvent[];
  scheduled: boolean;
  active: boolean;
}

export function eventKey(e: WatchEvent): string {
  return e.type === 'put' ? e.entry.key : e.key;
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  /** Adds a watcher that first receives `replay` (already filtered and ordered), then live events. */
  add(
    prefix: string,
    replay: WatchEvent[],
    onEvent: (events: WatchEvent[]) => void,
    onError?: (err: StoreError) => void,
  ): () => void {
    const w: Watcher = { prefix, onEvent, onError, pending: [], scheduled: false, active: true };
    this.watchers.add(w);
    if (replay.length > 0) this.enqueue(w, replay);
    return () => this.remove(w);
  }

  /** Reports err to a watcher-to-be, asynchronously, and registers nothing. */
  fail(err: StoreError, onError?: (err: StoreError) => void): () => void {
    let cancelled = false;
    setImmediate(() => {
      if (cancelled) return;
      if (onError) onError(err);
      else process.emitWarning(err);
    });
    return () => {
      cancelled = true;
    };
  }

  publish(events: WatchEvent[]): void {
    if (events.length === 0) return;
    for (const w of this.watchers) {
      const mine = events.filter((e) => eventKey(e).startsWith(w.prefix));
      if (mine.length > 0) this.enqueue(w, mine);
    }
  }

  /** Drops every watcher without calling it again (the store is closing). */
  clear(): void {
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
  }

  private remove(w: Watcher): void {
    w.active = false;
    w.pending = [];
    this.watchers.delete(w);
  }

  private enqueue(w: Watcher, events: WatchEvent[]): void {
    for (const e of events) w.pending.push(e);
    if (w.scheduled) return;
    w.scheduled = true;
    setImmediate(() => {
      w.scheduled = false;
      if (!w.active || w.pending.length === 0) return;
      const batch = w.pending;
      w.pending = [];
      w.onEvent(batch);
    });
  }
}
