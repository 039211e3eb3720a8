// What Istio's lowering shares between kinds: which hosts name which services (Kubernetes names,
// plus the hosts ServiceEntries declare) and the subsets DestinationRules define.
import { serviceKey, type ServiceId } from '../../resources/catalog.ts';
import { kubeServiceOfHost, serviceRef } from '../common/hosts.ts';
import type { LowerContext } from '../common/lowering.ts';
import { subsetServiceName } from '../common/names.ts';
import type { DialectResource } from '../types.ts';

export class IstioContext {
  readonly base: LowerContext;
  /** ServiceEntry host (lowercase) → the Service standing for it. */
  private readonly entryHosts = new Map<string, ServiceId>();
  /** Service key → subset name → the Service standing for the subset. */
  private readonly subsets = new Map<string, Map<string, ServiceId>>();

  constructor(base: LowerContext) {
    this.base = base;
  }

  addEntryHost(host: string, id: ServiceId): boolean {
    const h = host.toLowerCase();
    if (this.entryHosts.has(h)) return false;
    this.entryHosts.set(h, id);
    return true;
  }

  addSubset(parent: ServiceId, subset: string, id: ServiceId): void {
    const key = serviceKey(parent);
    let m = this.subsets.get(key);
    if (m === undefined) this.subsets.set(key, (m = new Map()));
    m.set(subset, id);
  }

  /**
   * The service a host names, relative to `namespace` for a short name (as Istio reads hosts:
   * by the namespace of the rule, not of the service). "name.ns" counts only when that service
   * exists; other DNS names only when a ServiceEntry declares them.
   */
  resolve(host: string, namespace: string): ServiceId | undefined {
    const h = host.toLowerCase().replace(/\.$/, '');
    const entry = this.entryHosts.get(h);
    if (entry !== undefined) return entry;
    const strict = kubeServiceOfHost(h, namespace, true);
    if (strict !== undefined) return strict;
    const loose = kubeServiceOfHost(h, namespace);
    return loose !== undefined && this.base.catalog.has(serviceKey(loose)) ? loose : undefined;
  }

  /**
   * The service a destination (host + subset) sends to, as a `name.ns` reference; warns (on
   * `source` at `path`) when the host names nothing or the subset is defined by no rule.
   */
  destination(
    d: { host: string; subset?: string | undefined },
    source: DialectResource,
    path: string,
  ): string | undefined {
    const id = this.resolve(d.host, source.metadata.namespace);
    if (id === undefined) {
      this.base.warnings.warn(
        source,
        `${path}.host`,
        `host "${d.host}" names no service (declare an external host with a ServiceEntry); route dropped`,
        'host-not-found',
      );
      return undefined;
    }
    if (!this.base.catalog.has(serviceKey(id)) && !this.isExternal(id))
      this.base.warnings.warn(
        source,
        `${path}.host`,
        `service "${serviceKey(id)}" does not exist (yet)`,
        'host-not-found',
      );
    if (d.subset === undefined) return serviceRef(id);
    const subset = this.subsets.get(serviceKey(id))?.get(d.subset);
    if (subset !== undefined) return serviceRef(subset);
    this.base.warnings.warn(
      source,
      `${path}.subset`,
      `subset "${d.subset}" of ${serviceKey(id)} is defined by no DestinationRule: requests routed there fail with 503`,
      'subset-not-found',
    );
    return serviceRef({ name: subsetServiceName(id.name, d.subset), namespace: id.namespace });
  }

  /** Whether `id` stands for a ServiceEntry's hosts (its endpoints are no sidecars). */
  isExternal(id: ServiceId): boolean {
    const key = serviceKey(id);
    for (const e of this.entryHosts.values()) if (serviceKey(e) === key) return true;
    return false;
  }
}
