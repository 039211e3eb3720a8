// The control plane's store: JSON values by key, one global monotonic revision, watches and leases,
// in the shape of etcd v3. The embedded SQLite store and the etcd store both implement it.
import type { StoreError } from './errors.ts';

export interface StoredEntry {
  key: string;
  value: unknown;
  /** Revision of the last change to this key (etcd's mod revision). */
  revision: number;
  /** Revision at which the key was created (since its last delete). */
  createRevision: number;
  /** The lease the key is attached to; the key is deleted when the lease ends. */
  lease?: string | undefined;
}

export type WatchEvent =
  | { type: 'put'; entry: StoredEntry; previous?: StoredEntry }
  | { type: 'delete'; key: string; revision: number; previous?: StoredEntry };

export interface PutOptions {
  /** Attach the key to this lease (a put without `lease` detaches the key from any lease, as in etcd). */
  lease?: string;
  /** Write only if the key's current revision is this one; 0 means the key must not exist. */
  ifRevision?: number;
}

/**
 * Keys are opaque strings; prefixes are raw string prefixes: 'a/b' matches 'a/b', 'a/b/c' and 'a/bc'.
 * Callers that mean a folder end the prefix with '/'.
 */
export interface Store {
  readonly kind: 'sqlite' | 'etcd';
  get(key: string): Promise<StoredEntry | undefined>;
  /** Entries whose key starts with prefix, sorted by key; revision is the store's revision at read time. */
  list(prefix: string): Promise<{ entries: StoredEntry[]; revision: number }>;
  /**
   * Returns the new store revision. Rejects with StoreConflictError (TRELLIS_STORE_CONFLICT) when
   * ifRevision does not match, StoreLeaseNotFoundError when the lease does not exist.
   */
  put(key: string, value: unknown, opts?: PutOptions): Promise<number>;
  /** True when the key existed. */
  delete(key: string): Promise<boolean>;
  /**
   * Events for keys under prefix with revision > fromRevision, in revision order: first the history the
   * store still holds, then live. Callbacks run asynchronously, never inside put(). The usual pattern is
   * list(prefix), then watch(prefix, list.revision). When fromRevision is older than the history kept,
   * onError gets StoreCompactedError (TRELLIS_STORE_COMPACTED): re-list and watch again. After onError
   * the watch delivers nothing more. Returns a cancel function.
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (events: WatchEvent[]) => void,
    onError?: (err: StoreError) => void,
  ): () => void;
  /** A new lease id; keys attached to it are deleted when it expires (ttlSeconds without keepAlive). */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Restarts the lease's TTL. False if the lease no longer exists (expired or revoked). */
  keepAlive(lease: string): Promise<boolean>;
  /** Ends the lease now and deletes its keys (delete events are emitted). Unknown leases are ignored. */
  revokeLease(lease: string): Promise<void>;
  /** Stops timers and watches and releases the backing connection or file. */
  close(): Promise<void>;
}
