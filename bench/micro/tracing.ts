// Micro-benchmark: what the tracing layer adds to one request.
//   node bench/micro/tracing.ts [iterations]
// Each case runs a request with the headers a typical client sends through the listener's tracing
// layer into a dispatch that answers at once (200, then end), and reports ns per request minus the
// same dispatch without the layer. The unsampled cases are the hot path (99 % of requests at the
// default 1 %): a header scan, and new ids plus a header list only when the headers must change.
// The sampled cases add a span: plain data handed to a sink that drops it, or the OpenTelemetry
// SDK (span, BatchSpanProcessor) with an exporter that drops the batch. The loop yields to the
// event loop every 256 requests so the batch processor exports as it would in a server.
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../../src/proxy/types.ts';
import { loadSdk } from '../../src/tracing/export-pipeline.ts';
import type { SpanSink } from '../../src/tracing/finished-span.ts';
import { tracingLayer } from '../../src/tracing/layer.ts';
import { Tracer } from '../../src/tracing/tracer.ts';

const iterations = Number(process.argv[2] ?? 500_000);
const CONTROLLER: ResponseController = { resume() {}, abort() {} };
const noop: Cancel = () => {};
const HEADERS: HeaderList = [
  'user-agent',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
  'accept',
  'application/json',
  'accept-encoding',
  'gzip, deflate, br',
  'accept-language',
  'en-US,en;q=0.9',
  'x-request-id',
  '0c6f6a0e-5b5a-4a3b-9a63-2f1e1c6b7d7a',
  'cookie',
  'session=6f1e2d3c4b5a69788796a5b4c3d2e1f0',
];

const handler: ResponseHandler = {
  onResponseStart() {},
  onResponseData: () => true,
  onResponseEnd() {},
  onResponseError() {},
};

const bottom: Dispatch = (_req, _body, h) => {
  h.onResponseStart(200, [], CONTROLLER);
  h.onResponseEnd(null);
  return noop;
};

function request(extra: HeaderList): ProxyRequest {
  return {
    method: 'GET',
    scheme: 'http',
    authority: 'reviews.default.svc:9080',
    path: '/reviews/0?page=1',
    headers: [...HEADERS, ...extra],
    protocol: 'http1',
    grpc: false,
    bodyLength: 0,
    expectContinue: false,
    source: { address: '10.0.0.7', port: 51234 },
    listener: 'outbound',
    startTime: performance.now(),
  };
}

const dropSink: SpanSink = { record() {}, flush: async () => {}, release: async () => {} };

const nullExporter: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

async function sdkSink(): Promise<SpanSink> {
  const sdk = await loadSdk(
    {
      otlpEndpoint: undefined,
      zipkinEndpoint: undefined,
      serviceName: 'bench',
      instanceId: 'bench',
      flushIntervalMs: 1000,
    },
    [nullExporter],
  );
  return { record: (s) => sdk.emit(s), flush: () => sdk.flush(), release: () => sdk.shutdown() };
}

async function run(dispatch: Dispatch, req: ProxyRequest, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    dispatch(req, null, handler);
    if ((i & 255) === 255) await new Promise(setImmediate);
  }
  return Number(process.hrtime.bigint() - start) / n;
}

async function measure(dispatch: Dispatch, req: ProxyRequest): Promise<number> {
  await run(dispatch, req, Math.min(iterations, 100_000)); // warm up: let the JIT settle
  let best = Infinity;
  for (let round = 0; round < 5; round++) best = Math.min(best, await run(dispatch, req, iterations));
  return best;
}

function layered(samplingPercent: number, sink: SpanSink): Dispatch {
  const tracer = new Tracer(samplingPercent, sink);
  return tracingLayer({ tracer, direction: 'outbound', listener: 'outbound' })!(bottom);
}

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7';
const cases: [string, () => Promise<Dispatch>, HeaderList][] = [
  ['unsampled: no context, rate 0 % (new ids, headers copied)', async () => layered(0, dropSink), []],
  [
    'unsampled: traceparent …-00 came (passed through as is)',
    async () => layered(100, dropSink),
    ['traceparent', `${TP}-00`],
  ],
  [
    'unsampled: b3 without decision, rate 0 % (rewritten)',
    async () => layered(0, dropSink),
    ['b3', '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7'],
  ],
  ['sampled: span recorded, sink drops it', async () => layered(100, dropSink), []],
  ['sampled: OpenTelemetry SDK span + BatchSpanProcessor', async () => layered(100, await sdkSink()), []],
  [
    'sampled: traceparent …-01 came, SDK span',
    async () => layered(0, await sdkSink()),
    ['traceparent', `${TP}-01`],
  ],
  [
    '1 % sampling, no context, SDK for the sampled (default config)',
    async () => layered(1, await sdkSink()),
    [],
  ],
];

process.stdout.write(`node ${process.version}, ${iterations} requests per round, best of 5 rounds\n`);
const baseline = await measure(bottom, request([]));
process.stdout.write(
  `${'dispatch without the layer (baseline)'.padEnd(64)} ${baseline.toFixed(1).padStart(8)} ns/req\n`,
);
for (const [name, make, extra] of cases) {
  const ns = await measure(await make(), request(extra));
  process.stdout.write(`${name.padEnd(64)} ${(ns - baseline).toFixed(1).padStart(8)} ns/req added\n`);
}
