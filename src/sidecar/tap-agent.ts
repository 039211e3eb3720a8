// The sidecar's end of live tap: starts and stops the proxy's tap sessions as the control plane
// says, and sends what they see on the push stream. A stream backed up past MAX_BACKLOG takes no
// batch (its requests count as dropped) so that tap never competes with snapshots and heartbeats
// for a slow link. When the stream closes every session stops: the control plane starts them
// again on the next stream if the tap is still running.
import type { TapEventsMessage, TapStartMessage, TapStopMessage } from '../control/tap/messages.ts';
import type { TapHub } from '../tap/hub.ts';

/** Bytes queued on the stream past which tap batches are dropped. */
const MAX_BACKLOG = 1024 * 1024;
/** Sessions one proxy runs at once (the control plane caps its own; several may tap one proxy). */
const MAX_SESSIONS = 32;

export interface TapStream {
  send(msg: TapEventsMessage): void;
  /** Bytes written to the stream and not yet sent. */
  buffered(): number;
}

export class TapAgent {
  private readonly hub: TapHub;

  constructor(hub: TapHub) {
    this.hub = hub;
  }

  handle(msg: TapStartMessage | TapStopMessage, stream: TapStream): void {
    if (msg.type === 'tap-stop') {
      this.hub.stop(msg.id);
      return;
    }
    const known = this.hub.sessions.some((s) => s.id === msg.id);
    if (!known && this.hub.sessions.length >= MAX_SESSIONS) return;
    this.hub.start(
      {
        id: msg.id,
        filter: msg.filter,
        maxRps: msg.maxRps,
        headers: msg.headers,
        bodyBytes: msg.bodyBytes,
      },
      (batch) => {
        if (stream.buffered() > MAX_BACKLOG) return false;
        stream.send({ type: 'tap-events', ...batch });
        return true;
      },
    );
  }

  reset(): void {
    this.hub.stopAll();
  }
}
