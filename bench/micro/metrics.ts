// Micro-benchmark: what recording one response costs on the hot path.
//   node bench/micro/metrics.ts [iterations]
// Compares prom-client's labelled metrics (hash the label object on every call) with
// ProxyStats.recordResponse (plain numeric fields on an object resolved once per config).
// Each case records what the proxy records per request: +1 request, +1 response by status class,
// one latency observation.
import { Counter, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS_MS, ProxyStats } from '../../src/metrics/proxy-stats.ts';

const iterations = Number(process.argv[2] ?? 2_000_000);
const labels = {
  direction: 'outbound',
  listener: 'outbound-http',
  route: 'reviews-v2',
  cluster: 'reviews.default',
};
const labelNames = ['direction', 'listener', 'route', 'cluster'];

// Precomputed inputs so no case pays for generating them.
const latencies = new Float64Array(4096);
const statuses = new Uint16Array(4096);
for (let i = 0; i < latencies.length; i++) {
  latencies[i] = Math.exp(Math.random() * 9) / 10; // 0.1 ms .. ~800 ms, log-spread
  statuses[i] = i % 50 === 0 ? 503 : i % 20 === 0 ? 404 : 200;
}
const classNames = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function promClientCase(): (i: number) => void {
  const registry = new Registry();
  const requests = new Counter({ name: 'r_total', help: 'h', labelNames, registers: [registry] });
  const responses = new Counter({
    name: 's_total',
    help: 'h',
    labelNames: [...labelNames, 'status_class'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'd_ms',
    help: 'h',
    labelNames,
    buckets: [...LATENCY_BUCKETS_MS],
    registers: [registry],
  });
  // Per-class label objects built once, as a careful caller would.
  const byClass = classNames.map((status_class) => ({ ...labels, status_class }));
  return (i) => {
    const j = i & 4095;
    requests.inc(labels);
    responses.inc(byClass[((statuses[j]! / 100) | 0) - 1]!);
    duration.observe(labels, latencies[j]!);
  };
}

function promClientHistogramOnly(): (i: number) => void {
  const duration = new Histogram({
    name: 'd_ms',
    help: 'h',
    labelNames,
    buckets: [...LATENCY_BUCKETS_MS],
    registers: [],
  });
  return (i) => duration.observe(labels, latencies[i & 4095]!);
}

function promClientChildHistogramOnly(): (i: number) => void {
  const child = new Histogram({
    name: 'd_ms',
    help: 'h',
    labelNames,
    buckets: [...LATENCY_BUCKETS_MS],
    registers: [],
  }).labels(labels);
  return (i) => child.observe(latencies[i & 4095]!);
}

function proxyStatsCase(): (i: number) => void {
  const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const s = stats.requestStats({ ...labels, direction: 'outbound' });
  return (i) => {
    const j = i & 4095;
    s.requests++;
    stats.recordResponse(s, statuses[j]!, latencies[j]!);
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
  process.stdout.write(`${name.padEnd(58)} ${best.toFixed(1).padStart(8)} ns/op\n`);
}

process.stdout.write(`node ${process.version}, ${iterations} ops per round, best of 5 rounds\n`);
measure('prom-client Histogram.observe(labels, v)', promClientHistogramOnly);
measure('prom-client histogram.labels(...).observe(v)', promClientChildHistogramOnly);
measure('prom-client per request: 2× Counter.inc + observe', promClientCase);
measure('ProxyStats per request: requests++ + recordResponse', proxyStatsCase);
