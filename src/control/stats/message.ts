// The golden-metrics messages of the push stream. The control plane says how often it wants a
// report (`stats-config`, sent right after `welcome`: a proxy that does not know the message ignores
// it, and a proxy never reports to a control plane that did not ask, so mixed versions keep working).
// The proxy then sends `stats` every interval with the edge cells (src/metrics/edge-stats.ts) that
// changed since its last report. Values are cumulative over the stream (counted from what the proxy
// had reported on earlier streams, see sidecar/stats-reporter.ts), so a lost or refused report loses
// nothing the next one does not carry; each cell's labels travel once per stream, later reports
// name the cell by its number.
import { z } from 'zod';
import { LATENCY_BOUNDS } from '../../metrics/histogram.ts';

/** Slots of a latency histogram: one per bound of LATENCY_BOUNDS, then +Inf. */
export const LATENCY_SLOTS = LATENCY_BOUNDS.length + 1;
/** Entries (request cells and TCP series together) in one report at most; the rest go next time. */
export const MAX_STATS_ENTRIES = 500;
export const DEFAULT_STATS_INTERVAL_MS = 10_000;

const Count = z.number().nonnegative().finite();
const Labels = z
  .record(z.string().max(64), z.string().max(512))
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels');

export const StatsConfigMessage = z.strictObject({
  type: z.literal('stats-config'),
  intervalMs: z.number().int().positive(),
});

export const RequestStatsEntry = z.strictObject({
  /** The cell's number on this stream; `labels` come with its first report on the stream. */
  id: z.number().int().nonnegative(),
  labels: Labels.optional(),
  count: Count,
  latencySumMs: Count,
  /** Non-cumulative counts per latency bucket (LATENCY_BOUNDS, then +Inf). */
  latency: z.array(Count).length(LATENCY_SLOTS),
});
export type RequestStatsEntry = z.infer<typeof RequestStatsEntry>;

export const TcpStatsEntry = z.strictObject({
  id: z.number().int().nonnegative(),
  labels: Labels.optional(),
  opened: Count,
  closed: Count,
  receivedBytes: Count,
  sentBytes: Count,
  /** Connections open now (a gauge: opened minus closed over the proxy's life, not per stream). */
  open: Count,
});
export type TcpStatsEntry = z.infer<typeof TcpStatsEntry>;

export const StatsMessage = z.strictObject({
  type: z.literal('stats'),
  requests: z.array(RequestStatsEntry).max(MAX_STATS_ENTRIES).optional(),
  tcp: z.array(TcpStatsEntry).max(MAX_STATS_ENTRIES).optional(),
});
export type StatsMessage = z.infer<typeof StatsMessage>;
