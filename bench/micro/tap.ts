// Micro-benchmark: what the tap layer adds to one request.
//   node bench/micro/tap.ts [iterations]
// Each case runs a request with the headers a typical client sends through the listener's tap
// layer into a dispatch that answers at once (200, a 5-byte body, end), and reports ns per request
// minus the same dispatch without the layer. "No tap" is every proxy nobody taps: one boolean read.
// With a session, matching requests build their three events; the sink takes each batch and drops it.
import type {
  Cancel,
  Dispatch,
  HeaderList,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../../src/proxy/types.ts';
import { TapHub, type TapSpec } from '../../src/tap/hub.ts';
import { tapLayer } from '../../src/tap/layer.ts';

const iterations = Number(process.argv[2] ?? 500_000);
const CONTROLLER: ResponseController = { resume() {}, abort() {} };
const noop: Cancel = () => {};
const BODY = Buffer.from('hello');
const HEADERS: HeaderList = [
  'user-agent',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
  'accept',
  'application/json',
  'accept-encoding',
  'gzip, deflate, br',
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
  h.onResponseStart(200, ['content-type', 'application/json'], CONTROLLER);
  h.onResponseData(BODY);
  h.onResponseEnd(null);
  return noop;
};

const req: ProxyRequest = {
  method: 'GET',
  scheme: 'http',
  authority: 'reviews.default.svc:9080',
  path: '/reviews/0?page=1',
  headers: HEADERS,
  protocol: 'http1',
  grpc: false,
  bodyLength: 0,
  expectContinue: false,
  source: { address: '10.0.0.7', port: 51234, identity: 'spiffe://cluster.local/ns/default/sa/web' },
  listener: 'inbound',
  startTime: performance.now(),
};

async function run(dispatch: Dispatch, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    dispatch(req, null, handler);
    if ((i & 255) === 255) await new Promise(setImmediate);
  }
  return Number(process.hrtime.bigint() - start) / n;
}

async function measure(dispatch: Dispatch): Promise<number> {
  await run(dispatch, Math.min(iterations, 100_000)); // warm up: let the JIT settle
  let best = Infinity;
  for (let round = 0; round < 5; round++) best = Math.min(best, await run(dispatch, iterations));
  return best;
}

function layered(specs: Omit<TapSpec, 'id'>[]): { dispatch: Dispatch; hub: TapHub } {
  const hub = new TapHub();
  specs.forEach((s, i) => hub.start({ id: `t${i}`, ...s }, () => true));
  return { dispatch: tapLayer({ tap: hub, direction: 'inbound', meshTls: undefined })!(bottom), hub };
}

const cases: [string, Omit<TapSpec, 'id'>[]][] = [
  ['no tap active (the common case)', []],
  ['one tap active, filter does not match (--method POST)', [{ filter: { method: 'POST' } }]],
  ['one tap active, every request past its 100 rps (dropped)', [{ filter: {}, maxRps: 100 }]],
  ['one tap active, reported (3 events)', [{ filter: {}, maxRps: 1_000_000 }]],
  ['one tap active, reported with headers', [{ filter: {}, maxRps: 1_000_000, headers: true }]],
  [
    'one tap active, reported with headers and 1 KiB bodies',
    [{ filter: {}, maxRps: 1_000_000, headers: true, bodyBytes: 1024 }],
  ],
];

process.stdout.write(`node ${process.version}, ${iterations} requests per round, best of 5 rounds\n`);
const baseline = await measure(bottom);
process.stdout.write(
  `${'dispatch without the layer (baseline)'.padEnd(64)} ${baseline.toFixed(1).padStart(8)} ns/req\n`,
);
for (const [name, specs] of cases) {
  const { dispatch, hub } = layered(specs);
  const ns = await measure(dispatch);
  hub.stopAll();
  process.stdout.write(`${name.padEnd(64)} ${(ns - baseline).toFixed(1).padStart(8)} ns/req added\n`);
}
