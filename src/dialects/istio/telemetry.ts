// Telemetry → one workload's metrics, tracing and access-log settings, merged field by field as
// Istio merges them: the mesh resource (root namespace, no selector), then the workload's
// namespace's (no selector), then those selecting the workload; each later entry overrides only
// what it sets. Istio names providers in its MeshConfig; Trellis has none, so provider names are
// fixed (otlp/opentelemetry/otel and zipkin for traces, envoy/file and stdout for access logs,
// prometheus for metrics) and their endpoints come from the control plane's TelemetryDefaults.
// The model has one setting per proxy, not one per direction: an entry for CLIENT or SERVER
// alone is left out (warned) rather than applied to both directions.
import type { TelemetryConfig, TracingConfig } from '../../model/telemetry.ts';
import type { Warnings } from '../common/lowering.ts';
import type {
  TelemetryAccessLogging,
  TelemetryMetrics,
  TelemetryResource,
  TelemetryTracing,
  WorkloadMode,
} from './telemetry-schema.ts';

/** Endpoints of the fixed providers, from the control plane's options (`trellis up --otlp-endpoint`, ...). */
export interface TelemetryDefaults {
  /** OTLP/HTTP traces endpoint: providers `otlp`, `opentelemetry`, `otel`. */
  otlpEndpoint?: string | undefined;
  /** Zipkin v2 spans endpoint: provider `zipkin`. */
  zipkinEndpoint?: string | undefined;
  /** File of providers `envoy` and `file` ("-" = stdout, the default). */
  accessLogPath?: string | undefined;
  /** Istio's root namespace (mesh-wide Telemetry). Default `istio-system`. */
  rootNamespace?: string | undefined;
}

export interface TelemetryOrigin {
  /** The model field it set, e.g. `tracing.samplingPercent`. */
  field: string;
  /** The resource as written: `Telemetry/namespace/name`. */
  resource: string;
}

type TraceProvider = 'otlp' | 'zipkin';
type LogProvider = 'file' | 'stdout';

const TRACE_PROVIDERS: ReadonlyMap<string, TraceProvider> = new Map<string, TraceProvider>([
  ['otlp', 'otlp'],
  ['opentelemetry', 'otlp'],
  ['otel', 'otlp'],
  ['zipkin', 'zipkin'],
]);
const LOG_PROVIDERS: ReadonlyMap<string, LogProvider> = new Map<string, LogProvider>([
  ['envoy', 'file'],
  ['file', 'file'],
  ['stdout', 'stdout'],
]);
/** The access-log provider when none is named (Istio's would be MeshConfig's default providers). */
const DEFAULT_LOG_PROVIDER = 'envoy';

// Istio matches provider names case-insensitively.
const traceProvider = (name: string): TraceProvider | undefined => TRACE_PROVIDERS.get(name.toLowerCase());
const logProvider = (name: string): LogProvider | undefined => LOG_PROVIDERS.get(name.toLowerCase());
const isPrometheus = (name: string): boolean => name.toLowerCase() === 'prometheus';

function oneSided(mode: WorkloadMode | undefined): boolean {
  return mode === 'CLIENT' || mode === 'SERVER';
}

const ONE_SIDED =
  'applies to one direction only; Trellis has one setting for both (inbound and outbound), so this entry is ignored';

function checkTracing(r: TelemetryResource, e: TelemetryTracing, at: string, warnings: Warnings): void {
  if (oneSided(e.match?.mode)) warnings.warn(r, `${at}.match.mode`, ONE_SIDED);
  const names = (e.providers ?? []).map((p) => p.name);
  if (names.length > 1)
    warnings.warn(r, `${at}.providers`, 'one tracing provider per workload: the first is used (as in Istio)');
  if (names[0] !== undefined && traceProvider(names[0]) === undefined)
    warnings.warn(
      r,
      `${at}.providers[0].name`,
      `unknown provider "${names[0]}" (Trellis knows otlp, opentelemetry, otel, zipkin): tracing is off where this applies, as in Istio`,
    );
  if (e.customTags !== undefined) warnings.warn(r, `${at}.customTags`, 'not supported; ignored');
  if (e.useRequestIdForTraceSampling !== undefined)
    warnings.warn(r, `${at}.useRequestIdForTraceSampling`, 'not supported; ignored');
  if (e.enableIstioTags !== undefined) warnings.warn(r, `${at}.enableIstioTags`, 'not supported; ignored');
}

function checkAccessLogging(
  r: TelemetryResource,
  e: TelemetryAccessLogging,
  at: string,
  warnings: Warnings,
): void {
  if (oneSided(e.match?.mode)) warnings.warn(r, `${at}.match.mode`, ONE_SIDED);
  (e.providers ?? []).forEach((p, i) => {
    if (logProvider(p.name) === undefined)
      warnings.warn(
        r,
        `${at}.providers[${i}].name`,
        `unknown provider "${p.name}" (Trellis writes access logs through envoy or file, to the control plane's --access-log path, and stdout); ignored`,
      );
  });
  if (e.filter?.expression !== undefined)
    warnings.warn(r, `${at}.filter.expression`, 'not supported: every request is logged');
}

function checkMetrics(r: TelemetryResource, e: TelemetryMetrics, at: string, warnings: Warnings): void {
  (e.providers ?? []).forEach((p, i) => {
    if (!isPrometheus(p.name))
      warnings.warn(
        r,
        `${at}.providers[${i}].name`,
        `unknown provider "${p.name}": Trellis exports Prometheus metrics only; ignored`,
      );
  });
  (e.overrides ?? []).forEach((o, i) => {
    const path = `${at}.overrides[${i}]`;
    if (oneSided(o.match?.mode)) warnings.warn(r, `${path}.match.mode`, ONE_SIDED);
    else if (!allMetrics(o.match) || o.tagOverrides !== undefined)
      warnings.warn(
        r,
        path,
        'not supported: only turning every metric off or on (ALL_METRICS, disabled) is; ignored',
      );
  });
  if (e.reportingInterval !== undefined)
    warnings.warn(r, `${at}.reportingInterval`, 'not supported: metrics are read at scrape time; ignored');
}

function allMetrics(match: { metric?: string | undefined; customMetric?: string | undefined } | undefined) {
  return match?.customMetric === undefined && (match?.metric ?? 'ALL_METRICS') === 'ALL_METRICS';
}

/** What a Telemetry says that Trellis cannot do, whatever workloads it meets. */
export function checkTelemetry(r: TelemetryResource, warnings: Warnings): void {
  r.spec.tracing?.forEach((e, i) => checkTracing(r, e, `spec.tracing[${i}]`, warnings));
  r.spec.accessLogging?.forEach((e, i) => checkAccessLogging(r, e, `spec.accessLogging[${i}]`, warnings));
  r.spec.metrics?.forEach((e, i) => checkMetrics(r, e, `spec.metrics[${i}]`, warnings));
}

function resourceName(r: TelemetryResource): string {
  return `Telemetry/${r.metadata.namespace}/${r.metadata.name}`;
}

const FIELDS = [
  'metrics.enabled',
  'tracing.enabled',
  'tracing.provider',
  'tracing.samplingPercent',
  'accessLog.enabled',
] as const;
type Field = (typeof FIELDS)[number];

/** Fields set so far, and who set each (the last writer wins, as the field does). */
class Origins {
  private readonly by = new Map<Field, string>();
  set(field: Field, r: TelemetryResource): void {
    this.by.set(field, resourceName(r));
  }
  list(): TelemetryOrigin[] {
    return FIELDS.flatMap((field) => {
      const resource = this.by.get(field);
      return resource === undefined ? [] : [{ field, resource }];
    });
  }
}

type Entry<T> = { r: TelemetryResource; e: T };

function entries<T>(layers: readonly TelemetryResource[], of: (r: TelemetryResource) => T[] | undefined) {
  const out: Entry<T>[] = [];
  for (const r of layers) for (const e of of(r) ?? []) out.push({ r, e });
  return out;
}

function mergeTracing(
  list: Entry<TelemetryTracing>[],
  base: TracingConfig,
  defaults: TelemetryDefaults,
  origins: Origins,
): TracingConfig {
  if (list.length === 0) return base;
  let provider: string | undefined;
  let providerSetBy: TelemetryResource | undefined;
  let disabled = false;
  let sampling = base.samplingPercent;
  // The first entry turns tracing on (given a provider); disableSpanReporting may turn it off again.
  origins.set('tracing.enabled', list[0]!.r);
  for (const { r, e } of list) {
    const first = e.providers?.[0]?.name;
    if (first !== undefined) {
      provider = first;
      providerSetBy = r;
      origins.set('tracing.provider', r);
    }
    if (e.disableSpanReporting !== undefined) {
      disabled = e.disableSpanReporting;
      origins.set('tracing.enabled', r);
    }
    if (e.randomSamplingPercentage !== undefined) {
      sampling = e.randomSamplingPercentage;
      origins.set('tracing.samplingPercent', r);
    }
  }
  // No provider named: the one the control plane was given an endpoint for (OTLP first).
  const kind =
    provider === undefined
      ? defaults.otlpEndpoint !== undefined
        ? 'otlp'
        : defaults.zipkinEndpoint !== undefined
          ? 'zipkin'
          : undefined
      : traceProvider(provider);
  const endpoint =
    kind === 'otlp' ? defaults.otlpEndpoint : kind === 'zipkin' ? defaults.zipkinEndpoint : undefined;
  // A named provider that cannot be used is what turned tracing off (Istio does the same).
  if (endpoint === undefined && providerSetBy !== undefined) origins.set('tracing.enabled', providerSetBy);
  const out: TracingConfig = {
    ...base,
    enabled: !disabled && endpoint !== undefined,
    samplingPercent: sampling,
  };
  if (kind === 'otlp' && endpoint !== undefined) out.otlpEndpoint = endpoint;
  if (kind === 'zipkin' && endpoint !== undefined) out.zipkinEndpoint = endpoint;
  return out;
}

/**
 * Istio's mergeLogs for the one sink Trellis has: the providers named last decide which are in
 * scope; an entry without providers speaks for its parent's (first: `envoy`); `disabled` turns
 * the sink off, any other entry for it on.
 */
function mergeAccessLog(
  list: Entry<TelemetryAccessLogging>[],
  base: TelemetryConfig['accessLog'],
  defaults: TelemetryDefaults,
  origins: Origins,
): TelemetryConfig['accessLog'] {
  if (list.length === 0) return base;
  let inScope = [DEFAULT_LOG_PROVIDER];
  let scopedBy: TelemetryResource | undefined;
  for (const { r, e } of list)
    if ((e.providers ?? []).length > 0) {
      inScope = e.providers!.map((p) => p.name);
      scopedBy = r;
    }
  let parent = [DEFAULT_LOG_PROVIDER];
  let enabled = base.enabled;
  let sink: LogProvider | undefined;
  for (const { r, e } of list) {
    const names = (e.providers ?? []).length > 0 ? e.providers!.map((p) => p.name) : parent;
    parent = names;
    for (const name of names) {
      const kind = logProvider(name);
      if (kind === undefined || !inScope.includes(name)) continue;
      enabled = e.disabled !== true;
      sink = kind;
      origins.set('accessLog.enabled', r);
    }
  }
  // Only the providers named last count: when they leave Trellis's sink out, it is off.
  if (scopedBy !== undefined && !inScope.some((n) => logProvider(n) !== undefined)) {
    enabled = false;
    origins.set('accessLog.enabled', scopedBy);
  }
  const path = sink === 'stdout' ? '-' : (defaults.accessLogPath ?? base.path);
  return { enabled, path };
}

function mergeMetrics(list: Entry<TelemetryMetrics>[], base: TelemetryConfig['metrics'], origins: Origins) {
  let enabled = base.enabled;
  for (const { r, e } of list)
    for (const o of e.overrides ?? []) {
      // Turning every metric off or on for both directions is all the model can say (else warned).
      if (oneSided(o.match?.mode) || !allMetrics(o.match) || o.disabled === undefined) continue;
      enabled = !o.disabled;
      origins.set('metrics.enabled', r);
    }
  return { enabled };
}

/** The merged settings of `layers` (mesh first, then namespace, then workload-level resources). */
export function mergeTelemetry(
  layers: readonly TelemetryResource[],
  base: TelemetryConfig,
  defaults: TelemetryDefaults,
): { telemetry: TelemetryConfig; origins: TelemetryOrigin[] } {
  const origins = new Origins();
  const both = <T extends { match?: { mode?: WorkloadMode | undefined } | undefined }>(l: Entry<T>[]) =>
    l.filter(({ e }) => !oneSided(e.match?.mode));
  const telemetry: TelemetryConfig = {
    metrics: mergeMetrics(
      entries(layers, (r) => r.spec.metrics),
      base.metrics,
      origins,
    ),
    tracing: mergeTracing(both(entries(layers, (r) => r.spec.tracing)), base.tracing, defaults, origins),
    accessLog: mergeAccessLog(
      both(entries(layers, (r) => r.spec.accessLogging)),
      base.accessLog,
      defaults,
      origins,
    ),
  };
  return { telemetry, origins: origins.list() };
}
