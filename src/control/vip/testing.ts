// A hand-driven VipSource for the allocator tests: set the services, then call changed().
import type { TestContext } from 'node:test';
import type { Store } from '../../store/types.ts';
import { VirtualIps, type VipDemand, type VipSource, type VirtualIpsOptions } from './allocator.ts';

export class FakeSource implements VipSource {
  services: VipDemand[];
  /** The store revision the demand reflects; high by default, so unwanted bindings are released. */
  revision = Number.MAX_SAFE_INTEGER;
  private readonly listeners = new Set<() => void>();

  constructor(services: (string | VipDemand)[] = []) {
    this.services = services.map((s) => (typeof s === 'string' ? { service: s } : s));
  }

  set(services: (string | VipDemand)[]): void {
    this.services = services.map((s) => (typeof s === 'string' ? { service: s } : s));
    for (const l of this.listeners) l();
  }

  demand(): { services: readonly VipDemand[]; revision: number } {
    return { services: this.services, revision: this.revision };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** An allocator closed after the test, settled (its first pass done) before it is returned. */
export async function openVips(
  t: TestContext,
  store: Store,
  source: VipSource,
  opts: VirtualIpsOptions = {},
): Promise<VirtualIps> {
  const vips = await VirtualIps.open(store, source, { debounceMs: 1, ...opts });
  t.after(() => vips.close());
  await vips.idle();
  return vips;
}

/** Sorted `service=address` lines: what a test compares. */
export function assignments(vips: VirtualIps): string[] {
  return [...vips.addresses()].map(([s, a]) => `${s}=${a}`);
}
