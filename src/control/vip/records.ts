// What the store holds about virtual IPs, as this replica last saw it: one record per address
// (`vips/<address>`), indexed by the service it names.
import { z } from 'zod';
import type { StoredEntry } from '../../store/types.ts';

export const VIP_PREFIX = 'vips/';

export const VipRecord = z.object({
  /** `name.namespace`; '' for a record this version cannot read (left alone). */
  service: z.string(),
  state: z.enum(['bound', 'released']),
  since: z.string(),
  /** Bound because the Service's spec.clusterIP names it. */
  explicit: z.boolean().optional(),
});
export type VipRecord = z.infer<typeof VipRecord>;

export interface Held {
  record: VipRecord;
  /** The store revision of the record (what a compare-and-swap names). */
  revision: number;
}

export interface HeldAt {
  address: string;
  held: Held;
}

export class VipRecords {
  private readonly byAddress = new Map<string, Held>();
  /** Service → the addresses whose record names it (bound or released). */
  private readonly byService = new Map<string, Set<string>>();

  get(address: string): Held | undefined {
    return this.byAddress.get(address);
  }

  has(address: string): boolean {
    return this.byAddress.has(address);
  }

  /** A copy: callers write to the store while they walk it. */
  all(): HeldAt[] {
    return [...this.byAddress].map(([address, held]) => ({ address, held }));
  }

  clear(): void {
    this.byAddress.clear();
    this.byService.clear();
  }

  /** Keeps what the store holds for one address, unless a newer revision is already known. */
  remember(e: StoredEntry): void {
    const address = e.key.slice(VIP_PREFIX.length);
    const known = this.byAddress.get(address);
    if (known !== undefined && known.revision >= e.revision) return;
    const parsed = VipRecord.safeParse(e.value);
    // A record this version cannot read still holds its address.
    const record: VipRecord = parsed.success
      ? parsed.data
      : { service: '', state: 'bound', since: new Date(0).toISOString() };
    this.set(address, { record, revision: e.revision });
  }

  /** A delete seen by the watch (nothing deletes these keys today, but a person might). */
  forget(address: string, revision: number): void {
    if ((this.byAddress.get(address)?.revision ?? 0) < revision) this.delete(address);
  }

  set(address: string, held: Held): void {
    this.delete(address);
    this.byAddress.set(address, held);
    const set = this.byService.get(held.record.service);
    if (set === undefined) this.byService.set(held.record.service, new Set([address]));
    else set.add(address);
  }

  delete(address: string): void {
    const known = this.byAddress.get(address);
    if (known === undefined) return;
    this.byAddress.delete(address);
    const set = this.byService.get(known.record.service);
    set?.delete(address);
    if (set?.size === 0) this.byService.delete(known.record.service);
  }

  /** Records naming a service in one state, oldest revision first. */
  of(service: string, state: VipRecord['state']): HeldAt[] {
    const out: HeldAt[] = [];
    for (const address of this.byService.get(service) ?? []) {
      const held = this.byAddress.get(address);
      if (held?.record.state === state) out.push({ address, held });
    }
    return out.sort((a, b) => a.held.revision - b.held.revision);
  }
}
