// The push-stream messages of a live tap (`trellis tap`): the control plane starts and stops tap
// sessions on a proxy; the proxy sends what they saw in batches (at most every 100 ms, or at 64
// events). A proxy that does not know them ignores them (a newer control plane is harmless).
import { z } from 'zod';
import { MAX_TAP_BATCH, MAX_TAP_BODY_BYTES, MAX_TAP_RPS, TapFilter } from '../../tap/event.ts';

const TapId = z.string().min(1).max(64);

/** server → proxy: report the requests that match `filter`, at most `maxRps` a second. */
export const TapStartMessage = z.strictObject({
  type: z.literal('tap-start'),
  id: TapId,
  filter: TapFilter,
  maxRps: z.number().int().min(1).max(MAX_TAP_RPS),
  headers: z.boolean(),
  bodyBytes: z.number().int().min(0).max(MAX_TAP_BODY_BYTES),
});
export type TapStartMessage = z.infer<typeof TapStartMessage>;

/** server → proxy: the session is over; events of requests still in flight are discarded. */
export const TapStopMessage = z.strictObject({ type: z.literal('tap-stop'), id: TapId });
export type TapStopMessage = z.infer<typeof TapStopMessage>;

/**
 * proxy → server: events of one session, and the requests it skipped since the previous batch.
 * Each event is checked on its own by the broker (TapEvent; one that fails is dropped and counted):
 * a malformed event must cost that event, never the proxy's stream.
 */
export const TapEventsMessage = z.strictObject({
  type: z.literal('tap-events'),
  id: TapId,
  events: z.array(z.unknown()).max(MAX_TAP_BATCH),
  dropped: z.number().int().nonnegative(),
});
export type TapEventsMessage = z.infer<typeof TapEventsMessage>;
