// Spans leave the proxy through the OpenTelemetry SDK: a tracer provider whose BatchSpanProcessors
// feed an OTLP/HTTP exporter and/or a Zipkin v2 JSON exporter. The SDK is import()ed the first
// time a config turns tracing on with an endpoint, never otherwise; spans finished while it loads
// wait in a bounded queue. Only sampled requests reach it: the proxy makes its ids and its
// sampling decision itself (propagation.ts), and the SDK's id generator hands those ids back so the
// span exported is the one whose id already went upstream.
//
// One pipeline per distinct export setting, shared by every config that names it: a reload that
// keeps the endpoints keeps the same queue, so spans of requests that began on the old config and
// end on the new one are not lost. A pipeline stops when the last config using it releases it.
import type { IdGenerator, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '../log.ts';
import type { FinishedSpan } from './finished-span.ts';

export interface ExportSettings {
  otlpEndpoint: string | undefined;
  zipkinEndpoint: string | undefined;
  serviceName: string;
  /** service.instance.id: the proxy's node id. */
  instanceId: string;
  flushIntervalMs: number;
}

/** Spans held while the SDK loads (the BatchSpanProcessor's own default queue size). */
const MAX_PENDING = 2048;
const EXPORT_TIMEOUT_MS = 10_000;

export interface LoadedSdk {
  emit(span: FinishedSpan): void;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The SDK asks for ids; it gets the ones the proxy already chose (and sent upstream). */
class PresetIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId(): string {
    return this.traceId;
  }
  generateSpanId(): string {
    return this.spanId;
  }
}

/** The SDK set up for these settings; `extra` exporters are for benchmarks and tests. */
export async function loadSdk(s: ExportSettings, extra: SpanExporter[] = []): Promise<LoadedSdk> {
  const [api, core, base, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  routeDiagnostics(api);
  const batching = {
    scheduledDelayMillis: s.flushIntervalMs,
    exportTimeoutMillis: EXPORT_TIMEOUT_MS,
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
  };
  const spanProcessors = extra.map((e) => new base.BatchSpanProcessor(e, batching));
  if (s.otlpEndpoint !== undefined) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const exporter = new OTLPTraceExporter({ url: s.otlpEndpoint, timeoutMillis: EXPORT_TIMEOUT_MS });
    spanProcessors.push(new base.BatchSpanProcessor(exporter, batching));
  }
  if (s.zipkinEndpoint !== undefined) {
    const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin');
    spanProcessors.push(new base.BatchSpanProcessor(new ZipkinExporter({ url: s.zipkinEndpoint }), batching));
  }
  const ids = new PresetIds();
  const provider = new base.BasicTracerProvider({
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes({
        'service.name': s.serviceName,
        'service.instance.id': s.instanceId,
      }),
    ),
    // The decision was made before the SDK was asked (only sampled spans come here).
    sampler: new base.AlwaysOnSampler(),
    idGenerator: ids,
    spanProcessors,
  });
  const tracer = provider.getTracer('trellis-proxy');
  const { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } = api;
  return {
    emit(f) {
      ids.traceId = f.traceId;
      ids.spanId = f.spanId;
      const parent =
        f.parentSpanId === undefined
          ? ROOT_CONTEXT
          : trace.setSpanContext(ROOT_CONTEXT, {
              traceId: f.traceId,
              spanId: f.parentSpanId,
              traceFlags: TraceFlags.SAMPLED,
              isRemote: true,
              ...(f.traceState === undefined ? {} : { traceState: new core.TraceState(f.traceState) }),
            });
      const kind = f.kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT;
      // Times are performance.now() values; the SDK converts them to epoch time.
      const span = tracer.startSpan(
        f.name,
        { kind, startTime: f.startTime, attributes: f.attributes },
        parent,
      );
      if (f.error)
        span.setStatus(
          f.errorMessage === undefined
            ? { code: SpanStatusCode.ERROR }
            : { code: SpanStatusCode.ERROR, message: f.errorMessage },
        );
      span.end(f.endTime);
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

let diagnosticsRouted = false;

/** Export failures (a collector down, a 4xx) reach the proxy's log instead of vanishing. */
function routeDiagnostics(api: typeof import('@opentelemetry/api')): void {
  if (diagnosticsRouted) return;
  diagnosticsRouted = true;
  const log = createLogger('tracing');
  const write =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]): void =>
      log[level]({ detail: args.map(String) }, message);
  const quiet = (): void => {};
  api.diag.setLogger(
    { error: write('error'), warn: write('warn'), info: quiet, debug: quiet, verbose: quiet },
    { logLevel: api.DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

export class ExportPipeline {
  readonly key: string;
  /** Configs (tracers) using this pipeline. */
  refs = 0;
  /** Spans lost: the SDK could not load, its startup queue overflowed, or the pipeline was stopped. */
  dropped = 0;
  private sdk: LoadedSdk | undefined;
  private pending: FinishedSpan[] | undefined = [];
  private stopped = false;
  private readonly loaded: Promise<void>;

  constructor(key: string, settings: ExportSettings) {
    this.key = key;
    this.loaded = loadSdk(settings).then(
      (sdk) => {
        this.sdk = sdk;
        const pending = this.pending ?? [];
        this.pending = undefined;
        for (const span of pending) sdk.emit(span);
      },
      (err: unknown) => {
        this.dropped += this.pending?.length ?? 0;
        this.pending = undefined;
        createLogger('tracing').error({ err }, 'tracing: the OpenTelemetry SDK could not be loaded');
      },
    );
  }

  record(span: FinishedSpan): void {
    if (this.stopped) this.dropped++;
    else if (this.sdk !== undefined) this.sdk.emit(span);
    else if (this.pending !== undefined && this.pending.length < MAX_PENDING) this.pending.push(span);
    else this.dropped++;
  }

  async flush(): Promise<void> {
    await this.loaded;
    await this.sdk?.flush();
  }

  async stop(): Promise<void> {
    await this.loaded;
    if (this.stopped) return;
    this.stopped = true;
    await this.sdk?.shutdown();
  }
}

const pipelines = new Map<string, ExportPipeline>();

/** The pipeline for these settings, shared with every other config that has the same ones. */
export function acquirePipeline(s: ExportSettings): ExportPipeline {
  const key = JSON.stringify([
    s.otlpEndpoint,
    s.zipkinEndpoint,
    s.serviceName,
    s.instanceId,
    s.flushIntervalMs,
  ]);
  let p = pipelines.get(key);
  if (p === undefined) pipelines.set(key, (p = new ExportPipeline(key, s)));
  p.refs++;
  return p;
}

/** One user fewer: flushes, and stops the pipeline when nobody uses it any more. */
export async function releasePipeline(p: ExportPipeline): Promise<void> {
  if (--p.refs > 0) return p.flush();
  if (pipelines.get(p.key) === p) pipelines.delete(p.key);
  await p.stop();
}

/** Flushes and stops every pipeline (the process is about to exit). */
export async function stopAllPipelines(): Promise<void> {
  const all = [...pipelines.values()];
  pipelines.clear();
  await Promise.all(all.map((p) => p.stop()));
}
