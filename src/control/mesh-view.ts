// The control plane's in-memory view of the store: every resource, kept current by a watch.
// Compiling snapshots reads this view, never the store, so a push costs no store round trip.
import type { Store, WatchEvent } from '../store/types.ts';
import { extraKind, isKind, RESOURCE_SCHEMAS, type AnyResource, type Resource } from '../resources/kinds.ts';
import type { MeshState } from '../control/snapshot/index.ts';
import { lowerMeshState, type DialectResource, type LoweredMesh } from '../dialects/index.ts';

export const RESOURCE_PREFIX = 'resources/';

export class MeshView {
  private readonly store: Store;
  private readonly byKey = new Map<string, Resource>();
  /** Other meshes' kinds (src/dialects), as written; lowered into native resources by state(). */
  private readonly dialects = new Map<string, DialectResource>();
  private lowered: LoweredMesh | undefined;
  private readonly listeners = new Set<(revision: number) => void>();
  private cached: MeshState | undefined;
  private cancelWatch: (() => void) | undefined;
  /** The store revision this view reflects. */
  revision = 0;

  private constructor(store: Store) {
    this.store = store;
  }

  static async open(store: Store): Promise<MeshView> {
    const view = new MeshView(store);
    await view.resync();
    return view;
  }

  /** Reads everything and watches from there; also the way back after a compacted watch. */
  private async resync(): Promise<void> {
    this.cancelWatch?.();
    const { entries, revision } = await this.store.list(RESOURCE_PREFIX);
    this.byKey.clear();
    this.dialects.clear();
    for (const e of entries) this.accept(e.key, e.value);
    this.revision = revision;
    this.cached = undefined;
    this.cancelWatch = this.store.watch(
      RESOURCE_PREFIX,
      revision,
      (events) => this.onEvents(events),
      // The history we asked for is gone (compacted) or the watch broke: read again from now.
      () => setTimeout(() => void this.resync().catch(() => {}), 100),
    );
    this.emit();
  }

  private accept(key: string, value: unknown): void {
    const kind = (value as { kind?: unknown } | null)?.kind;
    const parsed = isKind(kind) ? RESOURCE_SCHEMAS[kind].safeParse(value) : undefined;
    // A value another writer stored in a shape this version cannot read is skipped, not fatal.
    if (parsed?.success === true) this.byKey.set(key, parsed.data);
    else this.byKey.delete(key);
    const apiVersion = (value as { apiVersion?: unknown } | null)?.apiVersion;
    const schema = typeof apiVersion === 'string' ? extraKind(kind)?.versions.get(apiVersion) : undefined;
    const dialect = schema?.safeParse(value);
    if (dialect?.success === true) this.dialects.set(key, dialect.data);
    else this.dialects.delete(key);
  }

  private onEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'put') {
        this.accept(ev.entry.key, ev.entry.value);
        this.revision = Math.max(this.revision, ev.entry.revision);
      } else {
        this.byKey.delete(ev.key);
        this.dialects.delete(ev.key);
        this.revision = Math.max(this.revision, ev.revision);
      }
    }
    this.cached = undefined;
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l(this.revision);
  }

  onChange(listener: (revision: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once `done()` holds, checked now and after every change; or after `timeoutMs` in any
   * case. The API waits here so that what it answers a write with is what reads show next
   * (read-your-writes), even when the store's watch lags; it must never wedge a request.
   */
  settled(done: () => boolean, timeoutMs = 2000): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const check = (): void => {
        if (done()) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.listeners.add(check);
    });
  }

  get(key: string): AnyResource | undefined {
    return this.byKey.get(key) ?? this.dialects.get(key);
  }

  all(): Resource[] {
    return [...this.byKey.values()];
  }

  dialectResources(): DialectResource[] {
    return [...this.dialects.values()];
  }

  /** state() with what lowering other meshes' kinds found: warnings, external services, Sidecar scopes. */
  lowering(): LoweredMesh {
    this.state();
    return this.lowered!;
  }

  /** Resources grouped for the snapshot compiler; rebuilt only after a change. */
  state(): MeshState {
    if (this.cached !== undefined) return this.cached;
    const state: MeshState = { services: [], workloads: [], routes: [], policies: [] };
    for (const r of this.byKey.values()) {
      if (r.kind === 'Service') state.services.push(r);
      else if (r.kind === 'Workload') state.workloads.push(r);
      else if (r.kind === 'TrafficRoute') state.routes.push(r);
      else if (r.kind === 'TrafficPolicy') state.policies.push(r);
    }
    this.lowered = lowerMeshState({ ...state, dialects: [...this.dialects.values()] });
    this.cached = this.lowered.state;
    return this.cached;
  }

  close(): void {
    this.cancelWatch?.();
    this.listeners.clear();
  }
}
