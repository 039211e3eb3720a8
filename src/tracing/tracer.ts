// The tracing of one compiled config (`telemetry.tracing`): the sampling rate its listeners apply
// to requests that arrive without a decision, and where their spans go. None at all when tracing
// is off: the listener layers are then not even built, and trace headers pass through untouched.
import type { ProxyConfig } from '../model/schema.ts';
import { acquirePipeline, releasePipeline, stopAllPipelines } from './export-pipeline.ts';
import type { FinishedSpan, SpanSink } from './finished-span.ts';

/** How long shutdown() waits for spans of requests still in flight before it lets go anyway. */
const SHUTDOWN_GRACE_MS = 30_000;
const SHUTDOWN_POLL_MS = 20;

export class Tracer {
  /** Share (0–100) of requests without an incoming decision that start a sampled trace here. */
  readonly samplingPercent: number;
  private readonly threshold: number;
  private readonly sink: SpanSink | undefined;
  private open = 0;
  private released = false;

  constructor(samplingPercent: number, sink: SpanSink | undefined) {
    this.samplingPercent = samplingPercent;
    this.threshold = samplingPercent / 100;
    this.sink = sink;
  }

  /** This hop's own decision: true for samplingPercent of the calls (Math.random() is in [0, 1)). */
  sample(): boolean {
    return Math.random() < this.threshold;
  }

  /** Spans started and not yet ended. */
  get openSpans(): number {
    return this.open;
  }

  spanStarted(): void {
    this.open++;
  }

  spanEnded(span: FinishedSpan): void {
    this.open--;
    this.sink?.record(span);
  }

  /** Resolves when the spans ended so far were handed to the exporters. */
  async flush(): Promise<void> {
    await this.sink?.flush();
  }

  /**
   * The config was replaced: waits (at most graceMs) for the spans of its requests still in
   * flight, then flushes and lets go of the export pipeline (stopped when no config uses it).
   */
  async shutdown(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
    if (this.released) return;
    this.released = true;
    const rounds = Math.ceil(graceMs / SHUTDOWN_POLL_MS);
    for (let i = 0; i < rounds && this.open > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_POLL_MS));
    await this.sink?.release();
  }
}

/** The tracer of a config; undefined when its tracing is off. */
export function compileTracer(config: ProxyConfig): Tracer | undefined {
  const t = config.telemetry.tracing;
  if (!t.enabled) return undefined;
  if (t.otlpEndpoint === undefined && t.zipkinEndpoint === undefined) {
    // Nowhere to send spans: the proxy still propagates (and makes decisions for) the trace.
    return new Tracer(t.samplingPercent, undefined);
  }
  const pipeline = acquirePipeline({
    otlpEndpoint: t.otlpEndpoint,
    zipkinEndpoint: t.zipkinEndpoint,
    serviceName: t.serviceName ?? config.node.service ?? config.node.id,
    instanceId: config.node.id,
    flushIntervalMs: t.flushInterval,
  });
  return new Tracer(t.samplingPercent, {
    record: (span) => pipeline.record(span),
    flush: () => pipeline.flush(),
    release: () => releasePipeline(pipeline),
  });
}

/** Flushes and stops every export pipeline of the process; call it once, at exit. */
export async function shutdownTracing(): Promise<void> {
  await stopAllPipelines();
}
