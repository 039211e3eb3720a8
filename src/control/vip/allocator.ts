// Service virtual IPs: each mesh service gets an address from a range (or the clusterIP its
// Service names), kept in the store so it survives restarts and is shared by replicas.
//
// One key per address, `vips/<address>` → {service, state: bound | released}. The address key is
// the lock: a claim is a create-only put (or a compare-and-swap on a released record), so two
// replicas never bind one address to two services. Two replicas racing for one service may bind it
// two addresses; everyone keeps the bound record of lowest revision and releases the others. A
// released address keeps its last service's name: the service gets it back if it returns (an
// implied service disappears while its workloads restart), and no other service gets it until the
// range holds no never-used address.
import { StoreConflictError } from '../../store/errors.ts';
import type { Store, WatchEvent } from '../../store/types.ts';
import { DEFAULT_VIP_RANGE, inRange, numberToIpv4, parseVipRange, type VipRange } from './range.ts';
import { VIP_PREFIX, VipRecords, type Held, type HeldAt, type VipRecord } from './records.ts';
import type { VipDemand, VipProblem, VipSource, VirtualIpsOptions } from './types.ts';

export { VIP_PREFIX };
export type { VipDemand, VipProblem, VipSource, VirtualIpsOptions };

const RETRY_MS = 1000;

export class VirtualIps {
  readonly range: VipRange;
  private readonly store: Store;
  private readonly source: VipSource;
  private readonly opts: VirtualIpsOptions;
  private readonly records = new VipRecords();
  private assigned: ReadonlyMap<string, string> = new Map();
  private readonly problems = new Map<string, VipProblem>();
  private readonly listeners = new Set<() => void>();
  private demand: readonly VipDemand[] = [];
  /** Where the search for a never-used address resumes. */
  private cursor: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private retry = false;
  /** The watch broke: the records may be out of date. */
  private stale = false;
  private closed = false;
  private cancelWatch: (() => void) | undefined;
  private readonly stopSource: () => void;

  private constructor(store: Store, source: VipSource, opts: VirtualIpsOptions) {
    this.store = store;
    this.source = source;
    this.opts = opts;
    this.range = parseVipRange(opts.range ?? DEFAULT_VIP_RANGE);
    this.cursor = this.range.first;
    this.stopSource = source.onChange(() => this.kick());
  }

  /** Reads the allocations, watches them, and allocates for the services that have none yet. */
  static async open(store: Store, source: VipSource, opts: VirtualIpsOptions = {}): Promise<VirtualIps> {
    const vips = new VirtualIps(store, source, opts);
    await vips.resync();
    vips.kick(0);
    return vips;
  }

  /** Service (`name.namespace`) → its virtual IP; a new map after every change, never mutated. */
  addresses(): ReadonlyMap<string, string> {
    return this.assigned;
  }

  addressOf(service: string): string | undefined {
    return this.assigned.get(service);
  }

  /** Why a service has no virtual IP, when that is not just a moment's delay. */
  problemOf(service: string): VipProblem | undefined {
    return this.problems.get(service);
  }

  /** Called after addresses() changed. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when no allocation pass is waiting or running (tests). */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && (this.timer !== undefined || this.running !== undefined); i++) {
      if (this.running !== undefined) await this.running;
      else await new Promise((resolve) => setTimeout(resolve, this.opts.debounceMs ?? 20));
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.cancelWatch?.();
    this.stopSource();
    this.listeners.clear();
  }

  private async resync(): Promise<void> {
    this.cancelWatch?.();
    const { entries, revision } = await this.store.list(VIP_PREFIX);
    this.records.clear();
    for (const e of entries) this.records.remember(e);
    this.cancelWatch = this.store.watch(
      VIP_PREFIX,
      revision,
      (events) => this.onEvents(events),
      // Compacted history or a broken watch: read everything again before the next pass.
      () => {
        this.stale = true;
        this.kick(100);
      },
    );
  }

  /** A store error: reported, and the pass is tried again a second later. */
  private readonly failed = (err: unknown): void => {
    this.opts.onError?.(err);
    this.retry = true;
    this.kick(RETRY_MS);
  };

  private onEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'put') this.records.remember(ev.entry);
      else this.records.forget(ev.key.slice(VIP_PREFIX.length), ev.revision);
    }
    this.kick();
  }

  private kick(delayMs = this.opts.debounceMs ?? 20): void {
    if (this.closed) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.reconcile()
        .catch(this.failed)
        .finally(() => {
          this.running = undefined;
          const delay = this.retry ? RETRY_MS : undefined;
          this.retry = false;
          if (this.again) {
            this.again = false;
            this.kick(delay);
          }
        });
    }, delayMs);
  }

  /** Binds an address to every service that wants one and has none; releases what nobody wants. */
  private async reconcile(): Promise<void> {
    if (this.stale) {
      await this.resync();
      this.stale = false;
    }
    const { services, revision } = this.source.demand();
    this.demand = services;
    const wanted = new Set<string>();
    const explicitAddresses = new Set<string>();
    for (const d of services) {
      if (d.clusterIP === 'None') continue;
      wanted.add(d.service);
      if (d.clusterIP !== undefined && d.clusterIP !== '') explicitAddresses.add(d.clusterIP);
    }
    for (const d of services) {
      if (this.closed) return;
      if (!wanted.has(d.service)) continue;
      const explicit = d.clusterIP !== undefined && d.clusterIP !== '' ? d.clusterIP : undefined;
      if (explicit !== undefined) await this.bindExplicit(d.service, explicit);
      else if (this.boundTo(d.service).length === 0) await this.allocate(d.service, explicitAddresses);
      else this.problems.delete(d.service);
      await this.dropDuplicates(d.service, explicit);
    }
    for (const { address, held } of this.records.all()) {
      if (this.closed) return;
      const { record } = held;
      // Released only when the demand already reflects this binding (its revision is older): a
      // replica whose view lags must not release what another bound for a service it has not seen.
      const unwanted = record.service !== '' && !wanted.has(record.service);
      if (record.state === 'bound' && unwanted && held.revision < revision) await this.release(address, held);
    }
    for (const service of this.problems.keys()) if (!wanted.has(service)) this.problems.delete(service);
    this.publish();
  }

  /** Bound records of a service, oldest binding first. */
  private boundTo(service: string): HeldAt[] {
    return this.records.of(service, 'bound');
  }

  private async bindExplicit(service: string, address: string): Promise<void> {
    const held = this.records.get(address);
    if (held?.record.state === 'bound' && held.record.service === service) {
      this.problems.delete(service);
      return;
    }
    if (held?.record.state !== 'bound' && (await this.claim(address, held, service, true))) {
      this.problems.delete(service);
      return;
    }
    const owner = this.records.get(address)?.record.service ?? 'another service';
    this.problem(service, {
      code: 'TRELLIS_VIP_CONFLICT',
      message: `spec.clusterIP ${address} is already the virtual IP of ${owner}`,
    });
  }

  private async allocate(service: string, reserved: ReadonlySet<string>): Promise<void> {
    if (await this.allocateAddress(service, reserved)) {
      this.problems.delete(service);
      return;
    }
    this.problem(service, {
      code: 'TRELLIS_VIP_RANGE_EXHAUSTED',
      message: `every address of ${this.range.cidr} is in use; give trellis up a larger --vip-range`,
    });
  }

  private async allocateAddress(service: string, reserved: ReadonlySet<string>): Promise<boolean> {
    // Its own address again, when it was released and nobody took it since (newest first).
    for (const { address, held } of this.records.of(service, 'released').reverse())
      if (await this.claim(address, held, service)) return true;
    // A never-used address; then, the range being full, the one released longest ago.
    const size = this.range.last - this.range.first + 1;
    for (let scanned = 0; scanned < size; scanned++) {
      const address = numberToIpv4(this.cursor);
      this.cursor = this.cursor >= this.range.last ? this.range.first : this.cursor + 1;
      if (this.records.has(address) || reserved.has(address)) continue;
      // Lost the race for this address: maybe to another replica binding this very service.
      if ((await this.claim(address, undefined, service)) || this.boundTo(service).length > 0) return true;
    }
    const since = (r: HeldAt): string => r.held.record.since;
    const reusable = this.records
      .all()
      .filter((r) => r.held.record.state === 'released' && inRange(this.range, r.address))
      .filter((r) => r.held.record.service !== '' && !reserved.has(r.address))
      .sort((a, b) => (since(a) < since(b) ? -1 : since(a) > since(b) ? 1 : 0));
    for (const { address, held } of reusable) if (await this.claim(address, held, service)) return true;
    return false;
  }

  /** Keeps one bound address per service: the clusterIP it names, else the oldest binding. */
  private async dropDuplicates(service: string, explicit: string | undefined): Promise<void> {
    const bound = this.boundTo(service);
    if (bound.length < 2 && (explicit === undefined || bound[0]?.address === explicit)) return;
    const keep =
      explicit === undefined ? bound[0]?.address : bound.find((b) => b.address === explicit)?.address;
    if (keep === undefined) return;
    for (const b of bound) if (b.address !== keep) await this.release(b.address, b.held);
  }

  /** Create-only (absent) or compare-and-swap (a released record); false when someone was first. */
  private async claim(
    address: string,
    held: Held | undefined,
    service: string,
    explicit = false,
  ): Promise<boolean> {
    const record: VipRecord = {
      service,
      state: 'bound',
      since: new Date().toISOString(),
      ...(explicit ? { explicit: true } : {}),
    };
    return this.write(address, record, held?.revision ?? 0);
  }

  private async release(address: string, held: Held): Promise<void> {
    const record: VipRecord = {
      service: held.record.service,
      state: 'released',
      since: new Date().toISOString(),
    };
    await this.write(address, record, held.revision);
  }

  private async write(address: string, record: VipRecord, ifRevision: number): Promise<boolean> {
    const key = `${VIP_PREFIX}${address}`;
    try {
      const revision = await this.store.put(key, record, { ifRevision });
      this.records.set(address, { record, revision });
      return true;
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      // Another replica wrote first: learn what it wrote before deciding again.
      const now = await this.store.get(key);
      if (now === undefined) this.records.delete(address);
      else this.records.remember(now);
      return false;
    }
  }

  private problem(service: string, p: VipProblem): void {
    const known = this.problems.get(service);
    this.problems.set(service, p);
    if (known?.message !== p.message) this.opts.onProblem?.(service, p);
  }

  /** Recomputes what each service uses and tells the listeners when it changed. */
  private publish(): void {
    const next = new Map<string, string>();
    for (const d of this.demand) {
      if (d.clusterIP === 'None') continue;
      const bound = this.boundTo(d.service);
      const explicit = d.clusterIP !== undefined && d.clusterIP !== '' ? d.clusterIP : undefined;
      const address =
        explicit === undefined ? bound[0]?.address : bound.find((b) => b.address === explicit)?.address;
      if (address !== undefined) next.set(d.service, address);
    }
    const prev = this.assigned;
    const same = prev.size === next.size && [...next].every(([k, v]) => prev.get(k) === v);
    if (same) return;
    this.assigned = new Map([...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    for (const l of this.listeners) l();
  }
}
