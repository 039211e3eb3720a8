// A Telemetry resource applied to a running control plane changes the pushed snapshot's telemetry
// of the workloads it selects, with the endpoints the control plane was started with, and only
// theirs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfig } from '../model/schema.ts';
import { TELEMETRY_DEFAULTS, type TelemetryConfig } from '../model/telemetry.ts';
import {
  api,
  registration,
  serviceYaml,
  startTestControlPlane,
  StreamClient,
  waitFor,
  type SnapshotMessage,
} from './testing.ts';

const OTLP = 'http://127.0.0.1:4318/v1/traces';

function telemetryOf(snap: SnapshotMessage): TelemetryConfig {
  return ProxyConfig.parse(snap.config).telemetry;
}

const TELEMETRY = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: reviews, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  tracing: [{ randomSamplingPercentage: 25 }]
  accessLogging: [{ providers: [{ name: envoy }] }]
`;

test('a Telemetry resource turns tracing and access logs on for the workload it selects only', async (t) => {
  const cp = await startTestControlPlane(t, {
    identity: false,
    push: { telemetry: { otlpEndpoint: OTLP, accessLogPath: '/var/log/trellis/access.log' } },
  });
  const reviews = await StreamClient.connect(t, cp.url);
  const ratings = await StreamClient.connect(t, cp.url);
  assert.deepEqual(telemetryOf(await reviews.register(registration('reviews-v1-tel'))), TELEMETRY_DEFAULTS);
  assert.deepEqual(
    telemetryOf(await ratings.register(registration('ratings-v1-tel', { service: 'ratings' }))),
    TELEMETRY_DEFAULTS,
  );

  const applied = await api(cp.url, 'POST', '/api/v1/apply?file=telemetry.yaml', TELEMETRY);
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  const changed = await waitFor('the reviews snapshot with access logs on', () =>
    reviews
      .snapshots()
      .map(telemetryOf)
      .find((c) => c.accessLog.enabled),
  );
  assert.deepEqual(changed, {
    metrics: { enabled: true },
    tracing: { enabled: true, samplingPercent: 25, flushInterval: 1000, otlpEndpoint: OTLP },
    accessLog: { enabled: true, path: '/var/log/trellis/access.log' },
  });

  // Another change reaches every proxy: ratings is sent a new snapshot, its telemetry untouched.
  const before = ratings.snapshots().length;
  await api(cp.url, 'POST', '/api/v1/apply?file=details.yaml', serviceYaml('details'));
  await ratings.nextSnapshot(before);
  for (const snap of ratings.snapshots()) assert.deepEqual(telemetryOf(snap), TELEMETRY_DEFAULTS);
  // Deleting the resource brings reviews back to the defaults.
  const removed = await api(cp.url, 'DELETE', '/api/v1/resources/Telemetry/default/reviews');
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
  const last = reviews.snapshots().length;
  await waitFor('the reviews snapshot without Telemetry', () => {
    const snaps = reviews.snapshots();
    return snaps.length > last && telemetryOf(snaps[snaps.length - 1]!).accessLog.enabled === false;
  });
  assert.deepEqual(telemetryOf(reviews.snapshots().at(-1)!), TELEMETRY_DEFAULTS);
});
