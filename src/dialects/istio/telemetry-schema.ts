// Istio's Telemetry (telemetry.istio.io v1, v1alpha1): every field of the API. As for the
// networking kinds, an unknown field is warned about and dropped; the lowering (telemetry.ts)
// says which known fields it cannot honour. Targeting (selector, targetRef(s)) is the security
// kinds' own, closed: a misspelt selector would widen the resource to its whole namespace.
import { z } from 'zod';
import { GoDuration } from '../common/duration.ts';
import { dialectResource } from '../common/metadata.ts';
import { checkTargeting, Targeting } from './security-schema.ts';

export const ISTIO_TELEMETRY = ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'] as const;

export const WorkloadMode = z.enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']);
export type WorkloadMode = z.infer<typeof WorkloadMode>;

const ProviderRef = z.strictObject({ name: z.string().min(1) });
const Providers = z.array(ProviderRef).optional();
const Match = z.strictObject({ mode: WorkloadMode.optional() });

const CustomTag = z.strictObject({
  literal: z.strictObject({ value: z.string() }).optional(),
  environment: z.strictObject({ name: z.string().min(1), defaultValue: z.string().optional() }).optional(),
  header: z.strictObject({ name: z.string().min(1), defaultValue: z.string().optional() }).optional(),
});

export const TelemetryTracing = z.strictObject({
  match: Match.optional(),
  providers: Providers,
  randomSamplingPercentage: z.number().min(0).max(100).optional(),
  disableSpanReporting: z.boolean().optional(),
  customTags: z.record(z.string(), CustomTag).optional(),
  useRequestIdForTraceSampling: z.boolean().optional(),
  enableIstioTags: z.boolean().optional(),
});
export type TelemetryTracing = z.infer<typeof TelemetryTracing>;

export const IstioMetric = z.enum([
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
]);

const MetricSelector = z
  .strictObject({
    metric: IstioMetric.optional(),
    customMetric: z.string().min(1).optional(),
    mode: WorkloadMode.optional(),
  })
  .refine((m) => m.metric === undefined || m.customMetric === undefined, {
    message: 'give metric or customMetric, not both',
  });

const MetricsOverrides = z.strictObject({
  match: MetricSelector.optional(),
  disabled: z.boolean().optional(),
  tagOverrides: z
    .record(
      z.string(),
      z.strictObject({ operation: z.enum(['UPSERT', 'REMOVE']).optional(), value: z.string().optional() }),
    )
    .optional(),
});

export const TelemetryMetrics = z.strictObject({
  providers: Providers,
  overrides: z.array(MetricsOverrides).optional(),
  reportingInterval: GoDuration.optional(),
});
export type TelemetryMetrics = z.infer<typeof TelemetryMetrics>;

export const TelemetryAccessLogging = z.strictObject({
  match: Match.optional(),
  providers: Providers,
  disabled: z.boolean().optional(),
  filter: z.strictObject({ expression: z.string().optional() }).optional(),
});
export type TelemetryAccessLogging = z.infer<typeof TelemetryAccessLogging>;

export const TelemetryResource = dialectResource(
  ISTIO_TELEMETRY,
  'Telemetry',
  z
    .strictObject({
      ...Targeting,
      tracing: z.array(TelemetryTracing).optional(),
      metrics: z.array(TelemetryMetrics).optional(),
      accessLogging: z.array(TelemetryAccessLogging).optional(),
    })
    .superRefine(checkTargeting)
    .prefault({}),
);
export type TelemetryResource = z.infer<typeof TelemetryResource>;
