// Helpers for the store conformance suite: fixtures, a recording watcher, bounded waiting.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import type { StoreError } from './errors.ts';
import type { Store, WatchEvent } from './types.ts';

export interface StoreFixture {
  store: Store;
  /** Frees what open() made (temp dir, etcd prefix); the suite closes the stores itself. */
  cleanup: () => Promise<void>;
  /**
   * Opens another Store on the same backing data. concurrent: both may be open at once (etcd: a second
   * client, as two control-plane replicas); otherwise `store` is closed first (the embedded store: a restart).
   */
  another?: { concurrent: boolean; open: () => Promise<Store> };
  /** Drops the history up to revision, so that older watches report compaction. */
  compact?: (revision: number) => Promise<void>;
}

export type OpenFixture = () => Promise<StoreFixture>;

/** Opens a fixture whose stores (the first and any `extra` ones) are closed and cleaned up after the test. */
export async function fixture(t: TestContext, open: OpenFixture): Promise<StoreFixture & { extra: Store[] }> {
  const fx = await open();
  const extra: Store[] = [];
  t.after(async () => {
    for (const s of [fx.store, ...extra]) await s.close();
    await fx.cleanup();
  });
  return { ...fx, extra };
}

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(20);
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface Recorder {
  events: WatchEvent[];
  batches: number;
  errors: StoreError[];
  cancel: () => void;
  /** Waits until at least n events arrived; returns them all. */
  waitEvents: (n: number, timeoutMs?: number) => Promise<WatchEvent[]>;
}

export function record(t: TestContext, store: Store, prefix: string, fromRevision: number): Recorder {
  const r: Recorder = {
    events: [],
    batches: 0,
    errors: [],
    cancel: () => undefined,
    waitEvents: async (n, timeoutMs = 5000) => {
      await waitFor(
        `${n} watch events on ${prefix} (have ${r.events.length})`,
        () => r.events.length >= n,
        timeoutMs,
      );
      return r.events;
    },
  };
  r.cancel = store.watch(
    prefix,
    fromRevision,
    (events) => {
      r.batches++;
      r.events.push(...events);
    },
    (err) => r.errors.push(err),
  );
  t.after(() => r.cancel());
  return r;
}

/** A compact, comparable summary of events: "put k@rev", "del k@rev". */
export function summary(events: WatchEvent[]): string[] {
  return events.map((e) =>
    e.type === 'put' ? `put ${e.entry.key}@${e.entry.revision}` : `del ${e.key}@${e.revision}`,
  );
}

export async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof Error && 'code' in err, `expected an error with a code, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}
