// Test scaffolding for tracing: a span collector on loopback that speaks OTLP/HTTP JSON (what
// @opentelemetry/exporter-trace-otlp-http sends: hex ids, numeric kinds) and Zipkin v2 JSON, and
// reduces both to one shape the tests compare.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { listen, portOf } from '../../test/support/sockets.ts';

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: 'server' | 'client' | 'other';
  service: string;
  attributes: Record<string, string | number | boolean>;
  error: boolean;
  traceState: string | undefined;
}

const OtlpValue = z.object({
  stringValue: z.string().optional(),
  intValue: z.union([z.number(), z.string()]).optional(),
  doubleValue: z.number().optional(),
  boolValue: z.boolean().optional(),
});
const OtlpAttributes = z.array(z.object({ key: z.string(), value: OtlpValue })).default([]);
const OtlpRequest = z.object({
  resourceSpans: z.array(
    z.object({
      resource: z.object({ attributes: OtlpAttributes }),
      scopeSpans: z.array(
        z.object({
          spans: z.array(
            z.object({
              traceId: z.string(),
              spanId: z.string(),
              parentSpanId: z.string().optional(),
              traceState: z.string().optional(),
              name: z.string(),
              kind: z.number(),
              attributes: OtlpAttributes,
              status: z.object({ code: z.number().optional() }).optional(),
            }),
          ),
        }),
      ),
    }),
  ),
});

const ZipkinRequest = z.array(
  z.object({
    traceId: z.string(),
    id: z.string(),
    parentId: z.string().optional(),
    name: z.string(),
    kind: z.enum(['SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER']).optional(),
    localEndpoint: z.object({ serviceName: z.string() }),
    tags: z.record(z.string(), z.string()).default({}),
  }),
);

function attributes(list: z.infer<typeof OtlpAttributes>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list) {
    const v = value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue;
    if (v !== undefined) out[key] = typeof v === 'string' && value.intValue !== undefined ? Number(v) : v;
  }
  return out;
}

function fromOtlp(body: unknown): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  for (const rs of OtlpRequest.parse(body).resourceSpans) {
    const service = String(attributes(rs.resource.attributes)['service.name']);
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans)
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId === undefined || s.parentSpanId === '' ? undefined : s.parentSpanId,
          name: s.name,
          // OTLP's enum: 2 SERVER, 3 CLIENT.
          kind: s.kind === 2 ? 'server' : s.kind === 3 ? 'client' : 'other',
          service,
          attributes: attributes(s.attributes),
          error: s.status?.code === 2,
          traceState: s.traceState === '' ? undefined : s.traceState,
        });
  }
  return out;
}

function fromZipkin(body: unknown): CollectedSpan[] {
  return ZipkinRequest.parse(body).map((s) => {
    const attrs: Record<string, string | number | boolean> = { ...s.tags };
    return {
      traceId: s.traceId,
      spanId: s.id,
      parentSpanId: s.parentId,
      name: s.name,
      kind: s.kind === 'SERVER' ? 'server' : s.kind === 'CLIENT' ? 'client' : 'other',
      service: s.localEndpoint.serviceName,
      attributes: attrs,
      error: s.tags['otel.status_code'] === 'ERROR',
      traceState: undefined,
    };
  });
}

export interface Collector {
  /** OTLP/HTTP traces endpoint. */
  otlpUrl: string;
  /** Zipkin v2 spans endpoint. */
  zipkinUrl: string;
  spans: CollectedSpan[];
  /** Export requests received, by path (content types checked). */
  requests: { path: string; contentType: string }[];
  /** Polls (every 20 ms, at most timeoutMs) until `done` holds; throws with what it has otherwise. */
  waitFor(done: (spans: CollectedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCollector(): Promise<Collector> {
  const spans: CollectedSpan[] = [];
  const requests: Collector['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const path = req.url ?? '';
      requests.push({ path, contentType: req.headers['content-type'] ?? '' });
      try {
        const body: unknown = JSON.parse(raw.toString('utf8'));
        spans.push(...(path === '/api/v2/spans' ? fromZipkin(body) : fromOtlp(body)));
        res.writeHead(path === '/api/v2/spans' ? 202 : 200, { 'content-type': 'application/json' }).end('{}');
      } catch (err) {
        res.writeHead(400).end(String(err));
      }
    });
  });
  await listen(server);
  const base = `http://127.0.0.1:${portOf(server)}`;
  return {
    otlpUrl: `${base}/v1/traces`,
    zipkinUrl: `${base}/api/v2/spans`,
    spans,
    requests,
    async waitFor(done, timeoutMs = 10_000) {
      const rounds = Math.ceil(timeoutMs / 20);
      for (let i = 0; i < rounds && !done(spans); i++) await new Promise((r) => setTimeout(r, 20));
      if (!done(spans))
        throw new Error(`spans not collected in time; have: ${JSON.stringify(spans, null, 1)}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The spans of one trace, ordered parent first along a chain (each span's parent is the previous). */
export function chainOf(spans: CollectedSpan[], traceId: string): CollectedSpan[] {
  const ofTrace = spans.filter((s) => s.traceId === traceId);
  const ids = new Set(ofTrace.map((s) => s.spanId));
  const chain: CollectedSpan[] = [];
  let next = ofTrace.find((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId));
  for (let i = 0; next !== undefined && i < ofTrace.length; i++) {
    chain.push(next);
    const id = next.spanId;
    next = ofTrace.find((s) => s.parentSpanId === id);
  }
  return chain;
}
