// A real Prometheus scrapes a running mesh: a client workload calls `flaky`, whose app fails every
// 4th request; PromQL over the sidecars' edge metrics gives back the 75 % success rate, from the
// counters exactly and from rate() within the error of its extrapolation, and a p99 latency from
// the histogram.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { startPrometheus, type TestPrometheus } from '../support/prometheus.ts';
import { MeshClient, waitReady } from './client.ts';
import { ROOT, run, Scope, up, waitUntil } from './harness.ts';

const FLAKY = path.join(ROOT, 'test/mesh/fixtures/flaky.ts');
const FAIL_EVERY = 4;
/** destination_service as the sidecars label it: name.namespace. */
const SERVICE = 'flaky.default';
const ROUNDS = 12;
const PER_ROUND = 20;
const ROUND_MS = 250;
const TOTAL = ROUNDS * PER_ROUND;

const ConfigDump = z.object({
  config: z.object({
    clusters: z.array(z.object({ endpoints: z.array(z.object({ port: z.number() })).optional() })),
  }),
});

/** The ports of the endpoints the sidecar with this admin port currently knows. */
async function knownEndpointPorts(adminPort: number): Promise<number[]> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/config_dump`, { signal: AbortSignal.timeout(2000) });
  const { config } = ConfigDump.parse(await res.json());
  return config.clusters.flatMap((c) => (c.endpoints ?? []).map((e) => e.port));
}

/** The single value of an instant query (it must return exactly one sample). */
async function scalar(prom: TestPrometheus, promql: string): Promise<number> {
  const samples = await prom.query(promql);
  assert.equal(samples.length, 1, `${promql} returned ${JSON.stringify(samples)}`);
  return samples[0]!.value;
}

test(
  'Prometheus scraping the sidecars: PromQL gives the success rate of a service failing 1 in 4',
  { timeout: 60_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cp = await up(scope, { dir: 'cp' });
    const [flaky, web] = await Promise.all([
      run(scope, cp.url, {
        service: 'flaky',
        app: [process.execPath, FLAKY],
        env: { FAIL_EVERY: String(FAIL_EVERY) },
      }),
      run(scope, cp.url, { service: 'web' }),
    ]);
    await waitReady(cp.url, [flaky.name, web.name]);
    // No warm-up traffic (it would be counted): wait until the client's sidecar knows the endpoint.
    await waitUntil('web knows the flaky endpoint', async () =>
      (await knownEndpointPorts(web.ports.admin)).includes(flaky.ports.inbound) ? true : undefined,
    );

    const prom = await startPrometheus([
      { job: 'web', address: `127.0.0.1:${web.ports.admin}` },
      { job: 'flaky', address: `127.0.0.1:${flaky.ports.admin}` },
    ]);
    t.after(() => prom.stop());
    await waitUntil('both sidecars scraped', async () => {
      const up = await prom.query('up == 1');
      return up.length === 2 ? true : undefined;
    });

    // Spread over 3 s (three scrapes) so that rate() sees the counters grow.
    const client = new MeshClient(web.ports.outbound);
    t.after(() => client.close());
    const statuses = new Map<number, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const started = Date.now();
      const replies = await Promise.all(
        Array.from({ length: PER_ROUND }, () => client.get('http://flaky/work')),
      );
      for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      await sleep(Math.max(0, ROUND_MS - (Date.now() - started)));
    }
    const failures = TOTAL / FAIL_EVERY;
    assert.deepEqual(Object.fromEntries(statuses), { 200: TOTAL - failures, 500: failures });

    const edge = `trellis_edge_requests_total{reporter="destination",destination_service="${SERVICE}"`;
    const bySourceEdge = `trellis_edge_requests_total{reporter="source",destination_service="${SERVICE}"`;
    await waitUntil(
      'Prometheus has scraped every request',
      async () => ((await prom.query(`sum(${edge}})`))[0]?.value === TOTAL ? true : undefined),
      15_000,
      250,
    );

    const expected = (TOTAL - failures) / TOTAL; // 0.75
    const exact = await scalar(prom, `sum(${edge},response_code!~"5.."}) / sum(${edge}})`);
    assert.equal(exact, expected);

    // The caller's sidecar saw the same answers.
    const bySource = await scalar(prom, `sum(${bySourceEdge},response_code!~"5.."}) / sum(${bySourceEdge}})`);
    assert.equal(bySource, expected);

    // rate() extrapolates each series on its own, and a series' first sample is not an increase.
    const byRate = await scalar(
      prom,
      `sum(rate(${edge},response_code!~"5.."}[1m])) / sum(rate(${edge}}[1m]))`,
    );
    assert.ok(Math.abs(byRate - expected) <= 0.05, `rate-based success rate ${byRate}`);

    const p99 = await scalar(
      prom,
      'histogram_quantile(0.99, sum by (le) (rate(trellis_edge_request_duration_ms_bucket' +
        `{reporter="destination",destination_service="${SERVICE}"}[1m])))`,
    );
    assert.ok(Number.isFinite(p99) && p99 > 0, `p99 ${p99}`);
    t.diagnostic(`success rate exact=${exact} source=${bySource} rate=${byRate.toFixed(4)} p99=${p99} ms`);
  },
);
