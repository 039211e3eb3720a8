// The store on etcd v3, for several control-plane replicas sharing one cluster. etcd's own revisions,
// leases, watches and transactions carry the semantics; this file only maps them onto Store.
import {
  Etcd3,
  GRPCDeadlineExceededError,
  type IKeyValue,
  type ILeaseKeepAliveResponse,
  type IWatchResponse,
  type Namespace,
  type Watcher,
} from 'etcd3';
import { isCompactedError, toStoreError, unreachable } from './etcd-errors.ts';
import {
  StoreClosedError,
  StoreCompactedError,
  StoreConflictError,
  StoreInvalidArgumentError,
  StoreLeaseNotFoundError,
  type StoreError,
} from './errors.ts';
import { checkKey, checkLeaseTtl, checkRevision, encodeValue, isRevision } from './validate.ts';
import type { PutOptions, Store, StoredEntry, WatchEvent } from './types.ts';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** Every key lives under this prefix in etcd (default '/trellis/'); Store keys are relative to it. */
  prefix?: string;
  /** Deadline of each unary call (default 5000 ms); watches and keep-alive streams have none. */
  callTimeoutMs?: number;
}

export const DEFAULT_ETCD_PREFIX = '/trellis/';
const DEFAULT_CALL_TIMEOUT_MS = 5000;

export async function openEtcdStore(opts: EtcdStoreOptions): Promise<EtcdStore> {
  if (opts.endpoints.length === 0) throw StoreInvalidArgumentError('etcd: at least one endpoint is needed');
  const timeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const client = new Etcd3({
    hosts: opts.endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
  const store = new EtcdStore(client, opts.endpoints, opts.prefix ?? DEFAULT_ETCD_PREFIX, timeoutMs);
  try {
    await client.maintenance.status();
  } catch (err) {
    client.close();
    throw unreachable(opts.endpoints, err);
  }
  return store;
}

/** etcd lease ids are int64s in decimal; anything else cannot name a lease there. */
const isLeaseId = (lease: string): boolean => /^[1-9][0-9]{0,18}$/.test(lease);

/** `key`: etcd3 strips the namespace from multi-key reads and watches but not from single gets. */
function toEntry(kv: IKeyValue, key = kv.key.toString('utf8')): StoredEntry {
  const text = kv.value.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text; // written by something other than Trellis: hand it over as the raw string
  }
  const entry: StoredEntry = {
    key,
    value,
    revision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
  if (kv.lease !== '0' && kv.lease !== '') entry.lease = kv.lease;
  return entry;
}

function toEvents(res: IWatchResponse): WatchEvent[] {
  return res.events.map((ev): WatchEvent => {
    const previous = ev.prev_kv ? toEntry(ev.prev_kv) : undefined;
    if (ev.type === 'Put') {
      return previous
        ? { type: 'put', entry: toEntry(ev.kv), previous }
        : { type: 'put', entry: toEntry(ev.kv) };
    }
    const del: WatchEvent = {
      type: 'delete',
      key: ev.kv.key.toString('utf8'),
      revision: Number(ev.kv.mod_revision),
    };
    if (previous) del.previous = previous;
    return del;
  });
}

export class EtcdStore implements Store {
  readonly kind = 'etcd';
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private readonly endpoints: string[];
  private readonly timeoutMs: number;
  private readonly watchers = new Set<Watcher>();
  private closed = false;

  constructor(client: Etcd3, endpoints: string[], prefix: string, timeoutMs: number) {
    this.client = client;
    this.ns = client.namespace(prefix);
    this.endpoints = endpoints;
    this.timeoutMs = timeoutMs;
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    const res = await this.call(`get ${key}`, () => this.ns.get(key).exec());
    const kv = res.kvs[0];
    return kv ? toEntry(kv, key) : undefined;
  }

  async list(prefix: string): Promise<{ entries: StoredEntry[]; revision: number }> {
    const res = await this.call(`list ${prefix}`, () => this.ns.getAll().prefix(prefix).exec());
    return { entries: res.kvs.map((kv) => toEntry(kv)), revision: Number(res.header.revision) };
  }

  async put(key: string, value: unknown, opts: PutOptions = {}): Promise<number> {
    checkKey(key);
    const json = encodeValue(key, value);
    const { lease, ifRevision } = opts;
    if (ifRevision !== undefined) checkRevision(ifRevision, 'ifRevision');
    if (lease !== undefined && !isLeaseId(lease)) throw new StoreLeaseNotFoundError(lease);
    const put = () => {
      const builder = this.ns.put(key).value(json);
      return lease === undefined ? builder : builder.lease(lease);
    };
    if (ifRevision === undefined) {
      const res = await this.call(`put ${key}`, () => put().exec(), lease);
      return Number(res.header.revision);
    }
    const res = await this.call(
      `put ${key}`,
      () => {
        // A key that does not exist has create revision 0; otherwise compare the mod revision.
        const cmp =
          ifRevision === 0 ? this.ns.if(key, 'Create', '==', 0) : this.ns.if(key, 'Mod', '==', ifRevision);
        return cmp.then(put()).else(this.ns.get(key)).commit();
      },
      lease,
    );
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range?.kvs[0];
      throw new StoreConflictError(key, ifRevision, current ? Number(current.mod_revision) : 0);
    }
    return Number(res.header.revision);
  }

  async delete(key: string): Promise<boolean> {
    const res = await this.call(`delete ${key}`, () => this.ns.delete().key(key).exec());
    return Number(res.deleted) > 0;
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (events: WatchEvent[]) => void,
    onError?: (err: StoreError) => void,
  ): () => void {
    let over = false;
    const fail = (err: StoreError): void => {
      if (over) return;
      over = true;
      if (onError) onError(err);
      else process.emitWarning(err);
    };
    if (this.closed || !isRevision(fromRevision)) {
      const err = this.closed
        ? StoreClosedError()
        : StoreInvalidArgumentError('fromRevision must be an integer >= 0');
      setImmediate(() => fail(err));
      return () => {
        over = true;
      };
    }
    // watcher() (not create()) attaches our listeners before etcd answers, so no replayed event can be
    // emitted before we listen. etcd3 reconnects by itself and resumes after the last revision it saw.
    const watcher = this.ns
      .watch()
      .prefix(prefix)
      .startRevision(String(fromRevision + 1))
      .withPreviousKV()
      .watcher();
    this.watchers.add(watcher);
    const stop = (): void => {
      over = true;
      if (this.watchers.delete(watcher)) void watcher.cancel().catch(() => undefined);
    };
    // The first revision this watch still needs. etcd3 resumes a reconnected watch from the revision in the
    // last response header, which runs ahead of the events during a replay (the created response, or a
    // replay in chunks): a reconnect then would skip history. Pin the resume point to what was delivered.
    let needed = fromRevision + 1;
    const pinResume = (): void => {
      watcher.request.start_revision = String(needed);
    };
    watcher.on('connected', pinResume);
    watcher.on('data', (res: IWatchResponse) => {
      if (over || res.events.length === 0) return;
      const events = toEvents(res);
      for (const e of events)
        needed = Math.max(needed, (e.type === 'put' ? e.entry.revision : e.revision) + 1);
      pinResume();
      onEvent(events);
    });
    // etcd cancelled the watch; a compacted start revision is the usual cause, and etcd does not say so.
    watcher.on('error', (err: unknown) => {
      this.watchers.delete(watcher);
      if (over) return;
      void this.explainCancel(needed, err).then(fail);
    });
    return stop;
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    checkLeaseTtl(ttlSeconds);
    const res = await this.call('lease grant', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }));
    return res.ID;
  }

  /** One keep-alive round trip on etcd's stream (etcd3's Lease objects cannot adopt an existing id). */
  async keepAlive(lease: string): Promise<boolean> {
    if (!isLeaseId(lease)) return false;
    const res = await this.call(`keep-alive of lease ${lease}`, async () => {
      const stream = await this.client.leaseClient.leaseKeepAlive();
      stream.on('error', () => undefined); // errors after end() (the stream's cancel) are of no interest
      try {
        return await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new GRPCDeadlineExceededError('keep-alive timed out')),
            this.timeoutMs,
          );
          stream.on('data', (r: ILeaseKeepAliveResponse) => {
            clearTimeout(timer);
            resolve(r);
          });
          stream.on('error', (err: unknown) => {
            clearTimeout(timer);
            reject(err instanceof Error ? err : new Error(String(err)));
          });
          stream.write({ ID: lease });
        });
      } finally {
        stream.end();
      }
    });
    // etcd answers TTL 0 for a lease it does not know (expired or revoked).
    return Number(res.TTL) > 0;
  }

  async revokeLease(lease: string): Promise<void> {
    if (!isLeaseId(lease)) return;
    try {
      await this.call(
        `revoke of lease ${lease}`,
        () => this.client.leaseClient.leaseRevoke({ ID: lease }),
        lease,
      );
    } catch (err) {
      if (!(err instanceof StoreLeaseNotFoundError)) throw err;
    }
  }

  /** Compacts etcd's history (the whole cluster's, not only this prefix) up to revision. */
  async compact(revision: number): Promise<void> {
    await this.call('compact', () => this.client.kv.compact({ revision, physical: true }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const watchers = [...this.watchers];
    this.watchers.clear();
    await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)));
    this.client.close();
  }

  private async call<T>(what: string, fn: () => Promise<T>, lease?: string): Promise<T> {
    if (this.closed) throw StoreClosedError();
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, this.endpoints, what, lease);
    }
  }

  /** Asks etcd for the revision the watch wanted: a compaction error there means its history is gone. */
  private async explainCancel(wantedRevision: number, cause: unknown): Promise<StoreError> {
    try {
      await this.ns.get('.compaction-probe').revision(wantedRevision).exec();
    } catch (err) {
      if (isCompactedError(err)) return new StoreCompactedError(wantedRevision - 1, 'etcd compacted it');
      return toStoreError(err, this.endpoints, 'watch');
    }
    return toStoreError(cause, this.endpoints, 'watch');
  }
}
