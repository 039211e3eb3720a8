// The control plane's store: `openStore({ dir })` for the embedded SQLite file (one control plane),
// `openStore({ etcd: [...] })` for etcd (several replicas). Both behave the same (see conformance.ts).
import { openSqliteStore } from './sqlite-store.ts';
import type { Store } from './types.ts';

export type { PutOptions, Store, StoredEntry, WatchEvent } from './types.ts';
export {
  StoreCompactedError,
  StoreConflictError,
  StoreError,
  StoreLeaseNotFoundError,
  StoreUnavailableError,
} from './errors.ts';
export { openSqliteStore, DEFAULT_HISTORY_REVISIONS, type SqliteStoreOptions } from './sqlite-store.ts';
export type { EtcdStoreOptions } from './etcd-store.ts';

export type StoreSpec = { dir: string } | { etcd: string[]; prefix?: string };

export async function openStore(spec: StoreSpec): Promise<Store> {
  if ('etcd' in spec) {
    // Loaded only when asked for: etcd3 brings gRPC, which the embedded store does not need.
    const { openEtcdStore } = await import('./etcd-store.ts');
    return openEtcdStore(
      spec.prefix === undefined ? { endpoints: spec.etcd } : { endpoints: spec.etcd, prefix: spec.prefix },
    );
  }
  return openSqliteStore(spec.dir);
}
