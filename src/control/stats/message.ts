// The golden-metrics messages of the push stream. The control plane says how often it wants a
// report (`stats-config`, sent right after `welcome`: a proxy that does not know the message ignores
// it, and a proxy never reports to a control plane that did not ask, so mixed versions keep working).
// The proxy then sends `stats` every interval with the edge cells (src/metrics/edge-stats.ts) that
// changed since its last report. Values are cumulative over the stream (counted from what the proxy
// had reported on earlier streams, see sidecar/stats-reporter.ts), so a lost or refused report loses
// nothing the next one does not carry; each cell's labels travel once per stream, later reports
// name the cell by its number. A control plane that asks (`report-ejections`) also hears which
// endpoints the proxy's outlier detection has ejected, whenever that changes.
import { z } from 'zod';
import { LATENCY_BOUNDS } from '../../metrics/histogram.ts';

/** Slots of a latency histogram: one per bound of LATENCY_BOUNDS, then +Inf. */
export const LATENCY_SLOTS = LATENCY_BOUNDS.length + 1;
/** Entries (request cells and TCP series together) in one report at most; the rest go next time. */
export const MAX_STATS_ENTRIES = 500;
export const DEFAULT_STATS_INTERVAL_MS = 10_000;
/** Ejected endpoints in one report at most (the proxy sends the first ones), and their name lengths. */
export const MAX_EJECTED_ENTRIES = 256;
export const MAX_EJECTED_NAME = 512;

const Count = z.number().nonnegative().finite();
const Labels = z
  .record(z.string().max(64), z.string().max(512))
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels');

export const StatsConfigMessage = z.strictObject({
  type: z.literal('stats-config'),
  intervalMs: z.number().int().positive(),
});

/**
 * Sent after `stats-config` by a control plane that reads `ejected` in reports. Asking first keeps
 * mixed versions working: an older control plane refuses a message with a field it does not know,
 * and an older proxy ignores this message (and never sends the field).
 */
export const ReportEjectionsMessage = z.strictObject({ type: z.literal('report-ejections') });

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

/** An endpoint the proxy's outlier detection ejected: its cluster, its address, when its time is up. */
export const EjectedEndpoint = z.strictObject({
  cluster: z.string().max(MAX_EJECTED_NAME),
  address: z.string().max(MAX_EJECTED_NAME),
  port: z.number().int().min(0).max(65535),
  /** Epoch ms; the endpoint comes back at the detector's first sweep after it. */
  untilMs: Count,
});
export type EjectedEndpoint = z.infer<typeof EjectedEndpoint>;

export const StatsMessage = z.strictObject({
  type: z.literal('stats'),
  requests: z.array(RequestStatsEntry).max(MAX_STATS_ENTRIES).optional(),
  tcp: z.array(TcpStatsEntry).max(MAX_STATS_ENTRIES).optional(),
  /**
   * Every endpoint ejected now, when that changed since the last report of the stream (an empty
   * list: none any more); absent: unchanged. Sent only after `report-ejections`.
   */
  ejected: z.array(EjectedEndpoint).max(MAX_EJECTED_ENTRIES).optional(),
});
export type StatsMessage = z.infer<typeof StatsMessage>;
