// Workload registration. A sidecar registers its workload when its stream opens and heartbeats on
// it; the workload is removed when it says goodbye, or within `staleMs` of its last heartbeat.
// Entries hang off one store lease per control-plane replica, so if the replica dies its
// workloads outlive it by the lease TTL — long enough for their sidecars to reconnect elsewhere
// and re-register (which moves them to the new replica's lease) without the endpoint flapping.
import { WorkloadResource } from '../resources/kinds.ts';
import type { Store } from '../store/types.ts';
import type { WorkloadRegistration } from './protocol.ts';
import { AddressInUseError, ApiError } from './errors.ts';
import { RESOURCE_PREFIX, type MeshView } from './mesh-view.ts';

export interface RegistryOptions {
  leaseTtlSeconds: number;
  staleMs: number;
}

interface Registered {
  key: string;
  registration: WorkloadRegistration;
  lastSeen: number;
  /** Revision of our last write; a newer one means someone else (another replica) owns it now. */
  revision: number;
}

export function workloadKey(namespace: string, name: string): string {
  return `${RESOURCE_PREFIX}Workload/${namespace}/${name}`;
}

export function toWorkloadResource(reg: WorkloadRegistration): unknown {
  return {
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'Workload',
    metadata: { name: reg.name, namespace: reg.namespace, labels: reg.labels },
    spec: reg.spec,
  };
}

export class WorkloadRegistry {
  private readonly store: Store;
  private readonly view: MeshView;
  private readonly opts: RegistryOptions;
  private readonly live = new Map<string, Registered>();
  private lease: string | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(store: Store, view: MeshView, opts: RegistryOptions) {
    this.store = store;
    this.view = view;
    this.opts = opts;
  }

  async start(): Promise<void> {
    this.lease = await this.store.grantLease(this.opts.leaseTtlSeconds);
    const keepAliveMs = (this.opts.leaseTtlSeconds * 1000) / 3;
    this.timers.push(setInterval(() => void this.keepLease(), keepAliveMs).unref());
    this.timers.push(setInterval(() => void this.sweep(), Math.min(1000, this.opts.staleMs / 2)).unref());
  }

  private async keepLease(): Promise<void> {
    if (this.lease === undefined) return;
    const alive = await this.store.keepAlive(this.lease).catch(() => true);
    if (alive) return;
    // The store lost our lease (it was down longer than the TTL): take a new one and write back
    // every workload that is still heartbeating.
    this.lease = await this.store.grantLease(this.opts.leaseTtlSeconds);
    for (const r of this.live.values()) await this.write(r);
  }

  private async write(r: Registered): Promise<void> {
    r.revision = await this.store.put(r.key, toWorkloadResource(r.registration), { lease: this.lease });
  }

  /** Registers (or re-registers after a reconnect); refuses an address another workload holds. */
  async register(reg: WorkloadRegistration): Promise<void> {
    const key = workloadKey(reg.namespace, reg.name);
    const clash = this.addressOwner(reg, key);
    if (clash !== undefined) {
      throw AddressInUseError(
        `${reg.spec.address}:${clash.port}`,
        clash.owner.split('/').slice(-2).join('/'),
      );
    }
    // The same rules as an applied Workload (names are DNS labels, ports valid): throws if not.
    const valid = WorkloadResource.safeParse(toWorkloadResource(reg));
    if (!valid.success) {
      const why = valid.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new ApiError(
        'TRELLIS_INVALID_WORKLOAD',
        400,
        `workload ${reg.namespace}/${reg.name} is invalid: ${why}`,
      );
    }
    const r: Registered = { key, registration: reg, lastSeen: Date.now(), revision: 0 };
    this.live.set(key, r);
    await this.write(r);
  }

  /** Another workload holding one of reg's ports on its address (its key), and the port, if any. */
  private addressOwner(reg: WorkloadRegistration, key: string): { owner: string; port: number } | undefined {
    const { address, ports } = reg.spec;
    const mine = new Set(
      [ports.inbound, ports.app, ports.outbound, ports.admin].filter((p) => p !== undefined),
    );
    const shared = (spec: WorkloadRegistration['spec']): number | undefined =>
      spec.address === address
        ? [spec.ports.inbound, spec.ports.app, spec.ports.outbound, spec.ports.admin].find(
            (p) => p !== undefined && mine.has(p),
          )
        : undefined;
    // This replica's own registrations first: the view learns of a write only when the store's
    // watch delivers it, and two hellos in that moment must not both get the port.
    for (const r of this.live.values()) {
      const port = r.key !== key ? shared(r.registration.spec) : undefined;
      if (port !== undefined) return { owner: r.key, port };
    }
    for (const w of this.view.state().workloads) {
      const wkey = workloadKey(w.metadata.namespace, w.metadata.name);
      // Skipping our own key: a re-registration must still see a third workload on the port.
      const port = wkey !== key ? shared(w.spec) : undefined;
      if (port !== undefined) return { owner: wkey, port };
    }
    return undefined;
  }

  /**
   * Refreshes a registration and publishes a readiness change. A workload swept while its stream
   * stayed open (silent for longer than staleMs, then back) is registered again rather than left
   * out of the mesh while its sidecar heartbeats; that may throw as register() does.
   */
  async heartbeat(reg: WorkloadRegistration, ready: boolean): Promise<void> {
    const r = this.live.get(workloadKey(reg.namespace, reg.name));
    if (r === undefined) return this.register({ ...reg, spec: { ...reg.spec, ready } });
    r.lastSeen = Date.now();
    if (r.registration.spec.ready === ready) return;
    r.registration = { ...r.registration, spec: { ...r.registration.spec, ready } };
    await this.write(r);
  }

  async deregister(namespace: string, name: string): Promise<void> {
    const key = workloadKey(namespace, name);
    const r = this.live.get(key);
    this.live.delete(key);
    if (r !== undefined) await this.deleteIfOurs(r);
  }

  private async deleteIfOurs(r: Registered): Promise<void> {
    const current = await this.store.get(r.key);
    if (current !== undefined && current.revision === r.revision) await this.store.delete(r.key);
  }

  private async sweep(): Promise<void> {
    const cutoff = Date.now() - this.opts.staleMs;
    for (const r of [...this.live.values()]) {
      if (r.lastSeen >= cutoff) continue;
      this.live.delete(r.key);
      await this.deleteIfOurs(r).catch(() => {});
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
