// Micro-benchmark: what the edge metrics add per request on the hot path.
//   node bench/micro/edge-metrics.ts [iterations]
// The route/cluster counters (ProxyStats: requests++ + recordResponse) are the baseline; the edge
// case adds EdgeStats.record as RouteExchange calls it (peer and route objects resolved before the
// request, statuses mixed 200/404/503, one gRPC status), and the prom-client case shows what the
// same four edge families cost through labelled Counter/Histogram calls. The two peer metadata
// layers (outbound adds x-trellis-peer, inbound strips it and finds the caller) are measured apart.
import { Counter, Histogram, Registry } from 'prom-client';
import { BYTE_BUCKETS, LATENCY_BUCKETS_MS } from '../../src/metrics/histogram.ts';
import { GRPC_NONE } from '../../src/metrics/edge-stats.ts';
import { ProxyStats } from '../../src/metrics/proxy-stats.ts';
import { ProxyConfig } from '../../src/model/schema.ts';
import type { ClusterRuntime } from '../../src/proxy/cluster.ts';
import { EdgeReporter } from '../../src/proxy/edge-metrics.ts';
import { peerMetadataLayer, sourcePeerLayer } from '../../src/proxy/peer-metadata.ts';
import type { Dispatch, ProxyRequest } from '../../src/proxy/types.ts';

const iterations = Number(process.argv[2] ?? 2_000_000);

const latencies = new Float64Array(4096);
const statuses = new Uint16Array(4096);
const sizes = new Float64Array(4096);
for (let i = 0; i < latencies.length; i++) {
  latencies[i] = Math.exp(Math.random() * 9) / 10; // 0.1 ms .. ~800 ms, log-spread
  statuses[i] = i % 50 === 0 ? 503 : i % 20 === 0 ? 404 : 200;
  sizes[i] = Math.floor(Math.exp(Math.random() * 12)); // 1 B .. ~160 KB
}

const routeLabels = {
  direction: 'outbound',
  listener: 'outbound',
  route: 'reviews',
  cluster: 'reviews',
} as const;
const edgeLabels = {
  reporter: 'source',
  source_workload: 'web-v1',
  source_namespace: 'default',
  source_version: 'v1',
  source_principal: 'spiffe://cluster.local/ns/default/sa/web',
  destination_service: 'reviews.default',
  destination_namespace: 'default',
  destination_workload: 'reviews-v1',
  destination_version: 'v1',
  destination_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
  route: 'reviews',
  grpc_status: '',
  mtls: 'true',
};

function baseline(): (i: number) => void {
  const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const s = stats.requestStats(routeLabels);
  return (i) => {
    const j = i & 4095;
    s.requests++;
    stats.recordResponse(s, statuses[j]!, latencies[j]!);
  };
}

function withEdge(): (i: number) => void {
  const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const s = stats.requestStats(routeLabels);
  const edge = stats.edge;
  const self = edge.party({
    source_workload: 'web-v1',
    source_namespace: 'default',
    source_version: 'v1',
    source_principal: edgeLabels.source_principal,
  });
  const route = edge.route('source', self, 'reviews');
  // Three endpoints of two versions: the peer changes from request to request, as balancing does.
  const peers = ['v1', 'v2', 'v1'].map((v) =>
    edge.party({
      destination_service: 'reviews.default',
      destination_namespace: 'default',
      destination_workload: `reviews-${v}`,
      destination_version: v,
      destination_principal: edgeLabels.destination_principal,
      mtls: 'true',
    }),
  );
  return (i) => {
    const j = i & 4095;
    s.requests++;
    stats.recordResponse(s, statuses[j]!, latencies[j]!);
    edge.record(route, peers[i % 3]!, statuses[j]!, GRPC_NONE, latencies[j]!, sizes[j]! & 1023, sizes[j]!);
  };
}

function promClientEdge(): (i: number) => void {
  const registry = new Registry();
  const labelNames = [...Object.keys(edgeLabels), 'response_code'];
  const requests = new Counter({ name: 'e_total', help: 'h', labelNames, registers: [registry] });
  const hist = (name: string, buckets: readonly number[]): Histogram =>
    new Histogram({ name, help: 'h', labelNames, buckets: [...buckets], registers: [registry] });
  const duration = hist('e_ms', LATENCY_BUCKETS_MS);
  const reqBytes = hist('e_req', BYTE_BUCKETS);
  const resBytes = hist('e_res', BYTE_BUCKETS);
  // Label objects built once per status, as a careful caller would.
  const byStatus = new Map([200, 404, 503].map((c) => [c, { ...edgeLabels, response_code: String(c) }]));
  return (i) => {
    const j = i & 4095;
    const l = byStatus.get(statuses[j]!)!;
    requests.inc(l);
    duration.observe(l, latencies[j]!);
    reqBytes.observe(l, sizes[j]! & 1023);
    resBytes.observe(l, sizes[j]!);
  };
}

function reporter(): EdgeReporter {
  const config = ProxyConfig.parse({
    node: { id: 'w', service: 'web', namespace: 'default', workload: 'web-v1', version: 'v1' },
  });
  return new EdgeReporter(
    'destination',
    config,
    new ProxyStats(new Registry(), { defaultMetrics: false }),
    undefined,
  );
}

const request: ProxyRequest = {
  method: 'GET',
  scheme: 'http',
  authority: 'reviews:9080',
  path: '/reviews/1',
  headers: ['user-agent', 'bench', 'accept', '*/*', 'x-request-id', 'abc'],
  protocol: 'http1',
  grpc: false,
  bodyLength: 0,
  expectContinue: false,
  source: { address: '127.0.0.1', port: 40000, identity: 'spiffe://cluster.local/ns/default/sa/web' },
  listener: 'inbound',
  startTime: 0,
};
let sink = 0;
const bottom: Dispatch = (req) => {
  sink += req.headers.length;
  return () => {};
};

function outboundHeader(): (i: number) => void {
  const edge = new EdgeReporter(
    'source',
    ProxyConfig.parse({}),
    new ProxyStats(new Registry(), { defaultMetrics: false }),
    undefined,
  );
  const cluster = { config: { mtls: { identities: [] } } } as unknown as ClusterRuntime;
  const dispatch = peerMetadataLayer(undefined, cluster, { edge })!(bottom);
  return () => void dispatch(request, null, undefined as never);
}

function inboundStrip(): (i: number) => void {
  const edge = reporter();
  const dispatch = sourcePeerLayer(edge)(bottom);
  const withPeer: ProxyRequest = {
    ...request,
    headers: [...request.headers, 'x-trellis-peer', 'workload=web-v1;namespace=default;version=v1'],
  };
  return () => {
    // A fresh header value each time, as a parser makes it (its hash is not cached yet).
    const req = { ...withPeer, headers: withPeer.headers.slice() };
    dispatch(req, null, undefined as never);
  };
}

function inboundCopyOnly(): (i: number) => void {
  return () => {
    const req = { ...request, headers: [...request.headers, 'x-trellis-peer', 'v'] };
    bottom({ ...req, headers: req.headers.slice() }, null, undefined as never);
  };
}

function measure(name: string, make: () => (i: number) => void): void {
  const run = make();
  for (let i = 0; i < 200_000; i++) run(i); // warm up: let the JIT settle
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run(i);
    const ns = Number(process.hrtime.bigint() - start) / iterations;
    if (ns < best) best = ns;
  }
  process.stdout.write(`${name.padEnd(62)} ${best.toFixed(1).padStart(8)} ns/op\n`);
}

process.stdout.write(`node ${process.version}, ${iterations} ops per round, best of 5 rounds\n`);
measure('route counters: requests++ + recordResponse', baseline);
measure('route counters + EdgeStats.record (3 peers, 3 statuses)', withEdge);
measure('prom-client, the 4 edge families (inc + 3× observe)', promClientEdge);
measure('outbound: add x-trellis-peer (request + header copy)', outboundHeader);
measure('inbound: strip x-trellis-peer + find the caller (with harness)', inboundStrip);
measure('  harness alone: a fresh request carrying the header', inboundCopyOnly);
if (sink < 0) process.stdout.write('\n'); // keeps `sink` alive
