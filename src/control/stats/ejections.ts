// Which endpoints the proxies' outlier detection has ejected, as each stream last said in its stats
// report (message.ts `ejected`). Only the latest list per stream is kept, and it goes with the stream:
// an ejection is the caller's view of now, not history.
import type { EjectedEndpoint } from './message.ts';
import type { ReportingProxy } from './store.ts';

export interface Ejection {
  /** The proxy that ejected the endpoint (a caller of it). */
  proxy: ReportingProxy;
  cluster: string;
  untilMs: number;
}

export class EjectionBook {
  readonly #byStream = new Map<object, { proxy: ReportingProxy; endpoints: readonly EjectedEndpoint[] }>();

  /** The stream's ejected endpoints now (replacing what it said before). */
  report(stream: object, proxy: ReportingProxy, endpoints: readonly EjectedEndpoint[]): void {
    if (endpoints.length === 0) this.#byStream.delete(stream);
    else this.#byStream.set(stream, { proxy, endpoints });
  }

  end(stream: object): void {
    this.#byStream.delete(stream);
  }

  /** Per endpoint (`address:port`), who has it ejected: one entry per proxy and cluster. */
  byEndpoint(): Map<string, Ejection[]> {
    const out = new Map<string, Ejection[]>();
    for (const { proxy, endpoints } of this.#byStream.values())
      for (const e of endpoints) {
        const key = endpointKey(e.address, e.port);
        let list = out.get(key);
        if (list === undefined) out.set(key, (list = []));
        list.push({ proxy, cluster: e.cluster, untilMs: e.untilMs });
      }
    return out;
  }
}

export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
