// The proxy configs of the telemetry scenario, and the OTLP/HTTP sink spans go to.
//   off:     telemetry.metrics.enabled false, tracing off, access log off
//   full:    metrics on, tracing on at 1 % sampling exported as OTLP/HTTP to the sink, access log off
//   metrics: metrics alone; tracing: tracing alone (to tell the two parts of `full` apart)
// Everything else is the `trellis` target of the proxy scenario: one outbound http1 listener, one
// route to a cluster whose endpoint is the upstream.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyConfigInput } from '../../src/model/schema.ts';
import { trellisConfig } from '../targets-trellis.ts';

export type TelemetryVariant = 'off' | 'full' | 'metrics' | 'tracing';
/** The variants a default run compares. */
export const VARIANTS: readonly TelemetryVariant[] = ['off', 'full'];
export const ALL_VARIANTS: readonly TelemetryVariant[] = ['off', 'full', 'metrics', 'tracing'];
export const SAMPLING_PERCENT = 1;

export function telemetryConfig(
  variant: TelemetryVariant,
  o: { port: number; adminPort: number; upstreamPort: number; otlpEndpoint: string },
): ProxyConfigInput {
  const base = trellisConfig({ ...o, direction: 'outbound' });
  const metrics = variant === 'full' || variant === 'metrics';
  const tracing = variant === 'full' || variant === 'tracing';
  const telemetry: ProxyConfigInput['telemetry'] = {
    metrics: { enabled: metrics },
    tracing: tracing
      ? {
          enabled: true,
          samplingPercent: SAMPLING_PERCENT,
          otlpEndpoint: o.otlpEndpoint,
          // The model's default: spans wait at most 1 s before they are sent.
          flushInterval: 1000,
        }
      : { enabled: false },
    accessLog: { enabled: false },
  };
  return { ...base, node: { id: `bench-telemetry-${variant}` }, telemetry };
}

export interface SinkCounts {
  /** Export requests (batches) received. */
  posts: number;
  spans: number;
  bytes: number;
}

export interface OtlpSink {
  /** e.g. http://127.0.0.1:4318/v1/traces */
  url: string;
  counts(): SinkCounts;
  reset(): void;
  close(): Promise<void>;
}

/** Spans in an OTLP/JSON export request (resourceSpans → scopeSpans → spans); 0 if unreadable. */
export function countSpans(body: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 0;
  }
  const list = (v: unknown, key: string): unknown[] => {
    const x = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
    return Array.isArray(x) ? x : [];
  };
  let n = 0;
  for (const rs of list(parsed, 'resourceSpans'))
    for (const ss of list(rs, 'scopeSpans')) n += list(ss, 'spans').length;
  return n;
}

/**
 * A collector that accepts OTLP/HTTP trace exports on loopback and discards them, counting
 * batches, spans (OTLP/JSON, what the proxy's exporter sends) and bytes. Answers `{}` (an
 * ExportTraceServiceResponse without partial failures).
 */
export async function startOtlpSink(): Promise<OtlpSink> {
  let c: SinkCounts = { posts: 0, spans: 0, bytes: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      c.posts++;
      c.bytes += body.length;
      if ((req.headers['content-type'] ?? '').includes('json')) c.spans += countSpans(body.toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    counts: () => ({ ...c }),
    reset: () => (c = { posts: 0, spans: 0, bytes: 0 }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
