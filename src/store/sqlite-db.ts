// The SQL side of the embedded store: schema, statements and row parsing. No store semantics here
// (revisions, leases, watches live in sqlite-store.ts); every write runs inside transaction().
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { StoreFailedError, StoreLockedError } from './errors.ts';
import type { StoredEntry, WatchEvent } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_rev INTEGER NOT NULL, create_rev INTEGER NOT NULL, lease TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
  revision INTEGER NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, ttl INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
`;

// Prefix match on raw strings: substr/length count characters, so this is exact for any Unicode key.
const UNDER_PREFIX = 'key >= :prefix AND substr(key, 1, length(:prefix)) = :prefix';

const KvRow = z.object({
  key: z.string(),
  value: z.string(),
  mod_rev: z.number(),
  create_rev: z.number(),
  lease: z.string().nullable(),
});
const EntryJson = z.object({
  key: z.string(),
  value: z.unknown(),
  revision: z.number(),
  createRevision: z.number(),
  lease: z.string().optional(),
});
const EventJson = z.discriminatedUnion('type', [
  z.object({ type: z.literal('put'), entry: EntryJson, previous: EntryJson.optional() }),
  z.object({
    type: z.literal('delete'),
    key: z.string(),
    revision: z.number(),
    previous: EntryJson.optional(),
  }),
]);
const EventRow = z.object({ event: z.string() });
const LeaseRow = z.object({ id: z.string(), ttl: z.number(), expires_at: z.number() });
const MetaRow = z.object({ value: z.number() });

type Statements = ReturnType<typeof prepare>;

function prepare(db: DatabaseSync) {
  const s = (sql: string): StatementSync => db.prepare(sql);
  return {
    getMeta: s('SELECT value FROM meta WHERE name = ?'),
    setMeta: s(
      'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ),
    get: s('SELECT * FROM kv WHERE key = ?'),
    list: s(`SELECT * FROM kv WHERE ${UNDER_PREFIX} ORDER BY key`),
    upsert: s(
      'INSERT INTO kv (key, value, mod_rev, create_rev, lease) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE ' +
        'SET value = excluded.value, mod_rev = excluded.mod_rev, lease = excluded.lease',
    ),
    delete: s('DELETE FROM kv WHERE key = ?'),
    byLease: s('SELECT * FROM kv WHERE lease = ? ORDER BY key'),
    addEvent: s('INSERT INTO events (revision, seq, key, event) VALUES (?, ?, ?, ?)'),
    eventsAfter: s(
      `SELECT event FROM events WHERE revision > :from AND ${UNDER_PREFIX} ORDER BY revision, seq`,
    ),
    prune: s('DELETE FROM events WHERE revision <= ?'),
    addLease: s('INSERT INTO leases (id, ttl, expires_at) VALUES (?, ?, ?)'),
    getLease: s('SELECT * FROM leases WHERE id = ?'),
    setExpiry: s('UPDATE leases SET expires_at = ? WHERE id = ?'),
    refreshAll: s('UPDATE leases SET expires_at = ? + ttl * 1000'),
    expired: s('SELECT * FROM leases WHERE expires_at <= ? ORDER BY expires_at'),
    deleteLease: s('DELETE FROM leases WHERE id = ?'),
  };
}

export interface LeaseRecord {
  id: string;
  ttlSeconds: number;
  expiresAt: number;
}

function toEntry(row: unknown): StoredEntry {
  const r = KvRow.parse(row);
  const entry: StoredEntry = {
    key: r.key,
    value: JSON.parse(r.value),
    revision: r.mod_rev,
    createRevision: r.create_rev,
  };
  if (r.lease !== null) entry.lease = r.lease;
  return entry;
}

function toLease(row: unknown): LeaseRecord {
  const r = LeaseRow.parse(row);
  return { id: r.id, ttlSeconds: r.ttl, expiresAt: r.expires_at };
}

export class StoreDb {
  private readonly db: DatabaseSync;
  private readonly stmts: Statements;

  constructor(file: string, dir: string) {
    this.db = new DatabaseSync(file, { timeout: 200 });
    try {
      // EXCLUSIVE locking: this process holds the file until close, so a second control plane on the same
      // dir fails fast instead of forking the revision history; the OS drops the lock if we crash.
      this.db.exec('PRAGMA locking_mode = EXCLUSIVE');
      this.db.exec('PRAGMA journal_mode = WAL');
      // FULL: a committed revision survives power loss, so watchers never see a revision twice.
      this.db.exec('PRAGMA synchronous = FULL');
      this.db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    } catch (err) {
      this.db.close();
      if (isBusy(err)) throw StoreLockedError(dir, err);
      throw StoreFailedError(`cannot open the store at ${file}: ${String(err)}`, err);
    }
    this.stmts = prepare(this.db);
  }

  /** Runs fn in one write transaction; a throw rolls everything back. */
  transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  meta(name: 'revision' | 'compacted'): number {
    const row = this.stmts.getMeta.get(name);
    return row === undefined ? 0 : MetaRow.parse(row).value;
  }

  setMeta(name: 'revision' | 'compacted', value: number): void {
    this.stmts.setMeta.run(name, value);
  }

  get(key: string): StoredEntry | undefined {
    const row = this.stmts.get.get(key);
    return row === undefined ? undefined : toEntry(row);
  }

  list(prefix: string): StoredEntry[] {
    return this.stmts.list.all({ prefix }).map(toEntry);
  }

  upsert(entry: StoredEntry, json: string): void {
    this.stmts.upsert.run(entry.key, json, entry.revision, entry.createRevision, entry.lease ?? null);
  }

  delete(key: string): void {
    this.stmts.delete.run(key);
  }

  keysOfLease(lease: string): StoredEntry[] {
    return this.stmts.byLease.all(lease).map(toEntry);
  }

  addEvents(revision: number, events: WatchEvent[]): void {
    events.forEach((e, seq) =>
      this.stmts.addEvent.run(revision, seq, e.type === 'put' ? e.entry.key : e.key, JSON.stringify(e)),
    );
  }

  eventsAfter(fromRevision: number, prefix: string): WatchEvent[] {
    return this.stmts.eventsAfter
      .all({ from: fromRevision, prefix })
      .map((row) => EventJson.parse(JSON.parse(EventRow.parse(row).event)));
  }

  pruneEvents(upToRevision: number): void {
    this.stmts.prune.run(upToRevision);
  }

  addLease(lease: LeaseRecord): void {
    this.stmts.addLease.run(lease.id, lease.ttlSeconds, lease.expiresAt);
  }

  lease(id: string): LeaseRecord | undefined {
    const row = this.stmts.getLease.get(id);
    return row === undefined ? undefined : toLease(row);
  }

  setLeaseExpiry(id: string, expiresAt: number): void {
    this.stmts.setExpiry.run(expiresAt, id);
  }

  /** Every lease gets its full TTL again from `now` (after a restart). */
  refreshAllLeases(now: number): void {
    this.stmts.refreshAll.run(now);
  }

  expiredLeases(now: number): LeaseRecord[] {
    return this.stmts.expired.all(now).map(toLease);
  }

  deleteLease(id: string): void {
    this.stmts.deleteLease.run(id);
  }

  close(): void {
    this.db.close();
  }
}

function isBusy(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && 'errcode' in err && (err.errcode === 5 || err.errcode === 6)
  );
}
