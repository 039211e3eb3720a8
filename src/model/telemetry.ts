// Telemetry in the internal model: what a proxy records and where it sends it. Set per proxy by
// the control plane from Istio's Telemetry kind (mesh, namespace, workload); a static config
// writes it directly. Metrics are on by default; tracing and access logs are off (they cost).
import { z } from 'zod';

export const TracingConfig = z.strictObject({
  enabled: z.boolean().default(false),
  /** Share of requests that start a sampled trace here (0–100); an incoming decision is kept. */
  samplingPercent: z.number().min(0).max(100).default(1),
  /** OpenTelemetry OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  otlpEndpoint: z.string().url().optional(),
  /** Zipkin v2 JSON endpoint, e.g. http://127.0.0.1:9411/api/v2/spans. */
  zipkinEndpoint: z.string().url().optional(),
  /** service.name of the spans; default: the node's service, else its id. */
  serviceName: z.string().min(1).optional(),
  /** Longest time spans wait in memory before they are sent. */
  flushInterval: z.number().int().min(10).max(60_000).default(1000),
});
export type TracingConfig = z.infer<typeof TracingConfig>;

export const AccessLogConfig = z.strictObject({
  enabled: z.boolean().default(false),
  /** "-" (stdout, default) or a file path (appended). */
  path: z.string().min(1).default('-'),
});
export type AccessLogConfig = z.infer<typeof AccessLogConfig>;

export const TelemetryConfig = z.strictObject({
  metrics: z.strictObject({ enabled: z.boolean().default(true) }).default({ enabled: true }),
  tracing: TracingConfig.default({ enabled: false, samplingPercent: 1, flushInterval: 1000 }),
  accessLog: AccessLogConfig.default({ enabled: false, path: '-' }),
});
export type TelemetryConfig = z.infer<typeof TelemetryConfig>;

export const TELEMETRY_DEFAULTS: TelemetryConfig = TelemetryConfig.parse({});
