// The embedded store (the default for one control plane): one SQLite file, <dir>/store.db, through
// Node's built-in node:sqlite. Same semantics as etcd: one global revision, a bounded event history for
// watches to resume from, leases whose keys are deleted when they expire.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  StoreClosedError,
  StoreCompactedError,
  StoreConflictError,
  StoreInvalidArgumentError,
  StoreLeaseNotFoundError,
  type StoreError,
} from './errors.ts';
import { StoreDb } from './sqlite-db.ts';
import { checkKey, checkLeaseTtl, checkRevision, encodeValue, isRevision } from './validate.ts';
import { WatchHub } from './watch-hub.ts';
import type { PutOptions, Store, StoredEntry, WatchEvent } from './types.ts';

export interface SqliteStoreOptions {
  /** Events of this many most recent revisions are kept for watches to replay (default 10,000). */
  historyRevisions?: number;
  /** How often expired leases are looked for (default 500 ms). */
  leaseCheckIntervalMs?: number;
}

export const DEFAULT_HISTORY_REVISIONS = 10_000;
const DEFAULT_LEASE_CHECK_MS = 500;

export async function openSqliteStore(dir: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  return new SqliteStore(new StoreDb(join(abs, 'store.db'), abs), opts);
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: StoreDb;
  private readonly hub = new WatchHub();
  private readonly historyRevisions: number;
  /** Prune in batches rather than on every write. */
  private readonly pruneSlack: number;
  private readonly sweeper: NodeJS.Timeout;
  private revision: number;
  /** Events of revisions > compacted are in the events table. */
  private compacted: number;
  private closed = false;

  constructor(db: StoreDb, opts: SqliteStoreOptions) {
    this.db = db;
    this.historyRevisions = Math.max(1, opts.historyRevisions ?? DEFAULT_HISTORY_REVISIONS);
    this.pruneSlack = Math.max(1, Math.floor(this.historyRevisions / 100));
    this.revision = db.meta('revision');
    this.compacted = db.meta('compacted');
    // A restarted control plane gives every lease its full TTL again: sidecars need time to reconnect
    // and keep their lease alive, rather than all their workloads being dropped at once.
    db.transaction(() => db.refreshAllLeases(Date.now()));
    this.sweeper = setInterval(
      () => this.expireLeases(),
      opts.leaseCheckIntervalMs ?? DEFAULT_LEASE_CHECK_MS,
    );
    this.sweeper.unref();
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    this.ensureOpen();
    return this.db.get(key);
  }

  async list(prefix: string): Promise<{ entries: StoredEntry[]; revision: number }> {
    this.ensureOpen();
    return { entries: this.db.list(prefix), revision: this.revision };
  }

  async put(key: string, value: unknown, opts: PutOptions = {}): Promise<number> {
    this.ensureOpen();
    checkKey(key);
    const json = encodeValue(key, value);
    const { lease, ifRevision } = opts;
    if (ifRevision !== undefined) checkRevision(ifRevision, 'ifRevision');
    const events = this.write(() => {
      const previous = this.db.get(key);
      const current = previous?.revision ?? 0;
      if (ifRevision !== undefined && ifRevision !== current)
        throw new StoreConflictError(key, ifRevision, current);
      if (lease !== undefined && !this.leaseAlive(lease)) throw new StoreLeaseNotFoundError(lease);
      const revision = this.revision + 1;
      const entry: StoredEntry = {
        key,
        value: JSON.parse(json),
        revision,
        createRevision: previous?.createRevision ?? revision,
      };
      if (lease !== undefined) entry.lease = lease;
      this.db.upsert(entry, json);
      const event: WatchEvent = previous ? { type: 'put', entry, previous } : { type: 'put', entry };
      return this.commitRevision(revision, [event]);
    });
    this.hub.publish(events);
    return this.revision;
  }

  async delete(key: string): Promise<boolean> {
    this.ensureOpen();
    const events = this.write(() => {
      const previous = this.db.get(key);
      if (previous === undefined) return [];
      this.db.delete(key);
      return this.commitRevision(this.revision + 1, [
        { type: 'delete', key, revision: this.revision + 1, previous },
      ]);
    });
    this.hub.publish(events);
    return events.length > 0;
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (events: WatchEvent[]) => void,
    onError?: (err: StoreError) => void,
  ): () => void {
    if (this.closed) return this.hub.fail(StoreClosedError(), onError);
    if (!isRevision(fromRevision)) {
      return this.hub.fail(StoreInvalidArgumentError(`fromRevision must be an integer >= 0`), onError);
    }
    if (fromRevision < this.compacted) {
      const detail = `the embedded store keeps events after revision ${this.compacted}`;
      return this.hub.fail(new StoreCompactedError(fromRevision, detail), onError);
    }
    // Replay and subscription happen in the same synchronous step: no write can fall in between.
    return this.hub.add(prefix, this.db.eventsAfter(fromRevision, prefix), onEvent, onError);
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    this.ensureOpen();
    checkLeaseTtl(ttlSeconds);
    const id = randomBytes(8).toString('hex');
    this.db.transaction(() =>
      this.db.addLease({ id, ttlSeconds, expiresAt: Date.now() + ttlSeconds * 1000 }),
    );
    return id;
  }

  async keepAlive(lease: string): Promise<boolean> {
    this.ensureOpen();
    const record = this.db.lease(lease);
    if (record === undefined) return false;
    const now = Date.now();
    if (record.expiresAt <= now) {
      this.endLease(lease);
      return false;
    }
    this.db.transaction(() => this.db.setLeaseExpiry(lease, now + record.ttlSeconds * 1000));
    return true;
  }

  async revokeLease(lease: string): Promise<void> {
    this.ensureOpen();
    this.endLease(lease);
  }

  /** Drops the events of revisions <= revision: watches from before it get StoreCompactedError. */
  compact(revision: number): void {
    this.ensureOpen();
    const upTo = Math.min(revision, this.revision);
    if (upTo <= this.compacted) return;
    this.write(() => this.setCompacted(upTo));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.hub.clear();
    this.db.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw StoreClosedError();
  }

  /** A transaction that may change the revision; if it fails, memory goes back to what the file holds. */
  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn);
    } catch (err) {
      this.revision = this.db.meta('revision');
      this.compacted = this.db.meta('compacted');
      throw err;
    }
  }

  private leaseAlive(lease: string): boolean {
    const record = this.db.lease(lease);
    return record !== undefined && record.expiresAt > Date.now();
  }

  /** Inside a transaction: records the events of a new revision and trims old history. */
  private commitRevision(revision: number, events: WatchEvent[]): WatchEvent[] {
    this.db.addEvents(revision, events);
    this.db.setMeta('revision', revision);
    const keepAfter = revision - this.historyRevisions;
    if (keepAfter - this.compacted >= this.pruneSlack) this.setCompacted(keepAfter);
    this.revision = revision;
    return events;
  }

  private setCompacted(upTo: number): void {
    this.db.pruneEvents(upTo);
    this.db.setMeta('compacted', upTo);
    this.compacted = upTo;
  }

  /** Deletes the lease and its keys; all the deletes share one revision, as in etcd. */
  private endLease(lease: string): void {
    const events = this.write(() => {
      if (this.db.lease(lease) === undefined) return [];
      const entries = this.db.keysOfLease(lease);
      this.db.deleteLease(lease);
      if (entries.length === 0) return [];
      const revision = this.revision + 1;
      for (const e of entries) this.db.delete(e.key);
      const deletes = entries.map((previous): WatchEvent => ({
        type: 'delete',
        key: previous.key,
        revision,
        previous,
      }));
      return this.commitRevision(revision, deletes);
    });
    this.hub.publish(events);
  }

  private expireLeases(): void {
    if (this.closed) return;
    try {
      for (const lease of this.db.expiredLeases(Date.now())) this.endLease(lease.id);
    } catch (err) {
      // The next tick tries again; a failing disk must not crash the control plane from a timer.
      process.emitWarning(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
