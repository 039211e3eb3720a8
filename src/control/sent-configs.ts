// What one proxy was sent and what it runs: the snapshot it last ACKed (what `trellis proxy-config`
// shows) and those sent after it, not answered yet. push-server.ts keeps one per push stream. The
// configs are the compiler's objects, shared between the proxies of a namespace: holding them costs
// the references, not copies.
import type { ProxyConfig } from '../model/schema.ts';

/**
 * Sent, unanswered snapshots kept per proxy. A proxy answers within milliseconds, so more than a
 * few means it stopped answering: the oldest are dropped (an ACK of one of them is then ignored).
 */
const MAX_UNANSWERED = 3;

export interface VersionedConfig {
  version: string;
  config: ProxyConfig;
}

export class SentConfigs {
  private readonly unanswered = new Map<string, ProxyConfig>();
  private inForceConfig: VersionedConfig | undefined;

  /** A snapshot went out. The same version again (a new certificate, same revision) replaces it. */
  sent(version: string, config: ProxyConfig): void {
    this.unanswered.delete(version);
    this.unanswered.set(version, config);
    if (this.unanswered.size > MAX_UNANSWERED) {
      const oldest = this.unanswered.keys().next().value;
      if (oldest !== undefined) this.unanswered.delete(oldest);
    }
  }

  /** The proxy applied `version`: it is in force, and what was sent before it is superseded. */
  acked(version: string): void {
    const config = this.unanswered.get(version);
    if (config === undefined) return;
    this.inForceConfig = { version, config };
    // Snapshots are applied in the order they were sent; a NACKed one left here goes too.
    for (const v of this.unanswered.keys()) {
      this.unanswered.delete(v);
      if (v === version) break;
    }
  }

  /** The last ACKed snapshot; undefined until the proxy ACKed one on this stream. */
  inForce(): VersionedConfig | undefined {
    return this.inForceConfig;
  }
}
