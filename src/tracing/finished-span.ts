// One span as the proxy records it: plain data, built when the exchange ends. Only sampled
// requests make one; the export pipeline turns it into an OpenTelemetry SDK span.

export interface FinishedSpan {
  name: string;
  /** inbound listeners record the server side of the hop, outbound ones the client side. */
  kind: 'server' | 'client';
  traceId: string;
  spanId: string;
  /** The caller's span; undefined for the root of a trace this proxy started. */
  parentSpanId: string | undefined;
  /** The W3C tracestate that came with the parent, unchanged. */
  traceState: string | undefined;
  /** performance.now() values. */
  startTime: number;
  endTime: number;
  attributes: Record<string, string | number>;
  error: boolean;
  /** A proxy error's message; HTTP status errors carry none (the status code says it). */
  errorMessage: string | undefined;
}

/** Where a tracer's finished spans go. */
export interface SpanSink {
  record(span: FinishedSpan): void;
  /** Resolves when every span recorded so far was handed to the exporters (or failed). */
  flush(): Promise<void>;
  /** This tracer is done with the sink (its config was replaced). */
  release(): Promise<void>;
}
