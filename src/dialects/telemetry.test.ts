// Istio's Telemetry lowered per workload: precedence workload > namespace > mesh merged field by
// field, Istio's scope for Telemetry (a root-namespace selector stays in the root namespace),
// providers resolved against the control plane's endpoints, what is refused when applied, what is
// warned about, and order never mattering.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { TELEMETRY_DEFAULTS } from '../model/telemetry.ts';
import { parseResources } from '../resources/parse.ts';
import { resolveKind } from '../resources/kinds.ts';
import type { Diagnostic } from '../errors.ts';
import { analyzeResources } from './analyze.ts';
import { shuffled } from './golden.ts';
import {
  isDialectResource,
  lowerMeshState,
  splitResources,
  telemetryFor,
  type DialectResource,
  type TelemetryDefaults,
  type WorkloadIdentity,
} from './index.ts';

const ENDPOINTS: TelemetryDefaults = {
  otlpEndpoint: 'http://127.0.0.1:4318/v1/traces',
  zipkinEndpoint: 'http://127.0.0.1:9411/api/v2/spans',
  accessLogPath: '/var/log/access.log',
};

function dialects(text: string): DialectResource[] {
  return parseResources(text, 'telemetry.yaml').filter(isDialectResource);
}

function workload(namespace: string, labels: Record<string, string>): WorkloadIdentity {
  return { namespace, labels, serviceAccount: 'sa', appPort: 8080 };
}

/** A Telemetry document: `selector` (app label) makes it workload-level. */
function tel(ns: string, name: string, spec: string, selector?: string): string {
  const sel = selector === undefined ? '' : `\n  selector: { matchLabels: { app: ${selector} } }`;
  return `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: ${ns} }
spec:${sel}
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}`;
}

const HTTPBIN = workload('foo', { app: 'httpbin' });

test('precedence: workload > namespace > mesh, each overriding only the fields it sets', () => {
  const rs = dialects(
    [
      tel(
        'istio-system',
        'mesh',
        `
tracing: [{ randomSamplingPercentage: 10 }]
accessLogging: [{ providers: [{ name: envoy }] }]`,
      ),
      tel('foo', 'ns', `tracing: [{ providers: [{ name: zipkin }], randomSamplingPercentage: 50 }]`),
      tel('foo', 'httpbin', `tracing: [{ disableSpanReporting: true }]`, 'httpbin'),
    ].join('\n---\n'),
  );
  const got = telemetryFor(rs, HTTPBIN, ENDPOINTS);
  assert.deepEqual(got.telemetry, {
    metrics: { enabled: true },
    tracing: {
      enabled: false,
      samplingPercent: 50,
      flushInterval: 1000,
      zipkinEndpoint: ENDPOINTS.zipkinEndpoint,
    },
    accessLog: { enabled: true, path: '/var/log/access.log' },
  });
  assert.deepEqual(got.origins, [
    { field: 'tracing.enabled', resource: 'Telemetry/foo/httpbin' },
    { field: 'tracing.provider', resource: 'Telemetry/foo/ns' },
    { field: 'tracing.samplingPercent', resource: 'Telemetry/foo/ns' },
    { field: 'accessLog.enabled', resource: 'Telemetry/istio-system/mesh' },
  ]);
  // Another workload of foo: the namespace's settings; of another namespace: the mesh's.
  const sleep = telemetryFor(rs, workload('foo', { app: 'sleep' }), ENDPOINTS).telemetry.tracing;
  assert.deepEqual(
    [sleep.enabled, sleep.samplingPercent, sleep.zipkinEndpoint],
    [true, 50, ENDPOINTS.zipkinEndpoint],
  );
  const other = telemetryFor(rs, workload('bar', { app: 'httpbin' }), ENDPOINTS).telemetry.tracing;
  assert.deepEqual(
    [other.enabled, other.samplingPercent, other.otlpEndpoint],
    [true, 10, ENDPOINTS.otlpEndpoint],
  );
  // The same in any order the resources were stored in.
  for (const seed of [3, 9, 27]) assert.deepEqual(telemetryFor(shuffled(rs, seed), HTTPBIN, ENDPOINTS), got);
});

test('no Telemetry, or none reaching the workload: the model defaults, no origins', () => {
  assert.deepEqual(telemetryFor([], HTTPBIN, ENDPOINTS), { telemetry: TELEMETRY_DEFAULTS, origins: [] });
  const rs = dialects(tel('bar', 'ns', 'accessLogging: [{}]'));
  assert.deepEqual(telemetryFor(rs, HTTPBIN, ENDPOINTS), { telemetry: TELEMETRY_DEFAULTS, origins: [] });
});

test('scope: a root-namespace selector selects root-namespace workloads only; targetRefs to a Service', () => {
  const rs = dialects(
    [
      tel('istio-system', 'root-httpbin', 'accessLogging: [{}]', 'httpbin'),
      `apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: { name: by-service, namespace: bar }
spec:
  targetRefs: [{ kind: Service, name: httpbin }]
  metrics: [{ overrides: [{ match: { metric: ALL_METRICS }, disabled: true }] }]`,
    ].join('\n---\n'),
  );
  assert.equal(telemetryFor(rs, HTTPBIN).telemetry.accessLog.enabled, false);
  assert.equal(
    telemetryFor(rs, workload('istio-system', { app: 'httpbin' })).telemetry.accessLog.enabled,
    true,
  );
  assert.equal(telemetryFor(rs, workload('bar', { app: 'httpbin' })).telemetry.metrics.enabled, false);
  assert.equal(telemetryFor(rs, workload('bar', { app: 'sleep' })).telemetry.metrics.enabled, true);
});

test('tracing providers: named or the one with an endpoint; none usable means tracing off', () => {
  const mesh = (spec: string) => dialects(tel('istio-system', 'mesh', spec));
  const tracing = (spec: string, d: TelemetryDefaults) =>
    telemetryFor(mesh(spec), HTTPBIN, d).telemetry.tracing;
  // No provider named: OTLP when the control plane has its endpoint, else Zipkin, else off.
  assert.equal(tracing('tracing: [{}]', ENDPOINTS).otlpEndpoint, ENDPOINTS.otlpEndpoint);
  const zipkinOnly = tracing('tracing: [{}]', { zipkinEndpoint: ENDPOINTS.zipkinEndpoint });
  assert.deepEqual([zipkinOnly.enabled, zipkinOnly.zipkinEndpoint], [true, ENDPOINTS.zipkinEndpoint]);
  assert.equal(tracing('tracing: [{}]', {}).enabled, false);
  // Named: opentelemetry and otel are OTLP, names match case-insensitively, as Istio's.
  for (const name of ['otlp', 'opentelemetry', 'OTel'])
    assert.equal(
      tracing(`tracing: [{ providers: [{ name: ${name} }] }]`, ENDPOINTS).otlpEndpoint,
      ENDPOINTS.otlpEndpoint,
    );
  // Named without an endpoint, or unknown: off, as Istio when it cannot find the provider.
  assert.equal(
    tracing('tracing: [{ providers: [{ name: zipkin }] }]', { otlpEndpoint: ENDPOINTS.otlpEndpoint }).enabled,
    false,
  );
  assert.equal(tracing('tracing: [{ providers: [{ name: jaeger }] }]', ENDPOINTS).enabled, false);
  // One direction only: ignored.
  assert.equal(tracing('tracing: [{ match: { mode: CLIENT } }]', ENDPOINTS).enabled, false);
});

test('access logs: envoy/file go to the control plane path, stdout to "-"; disabled and re-enabled by level', () => {
  const rs = (ns: string) =>
    dialects(
      [
        tel('istio-system', 'mesh', 'accessLogging: [{ providers: [{ name: envoy }] }]'),
        tel('foo', 'off', 'accessLogging: [{ disabled: true }]'),
        tel('foo', 'on-again', 'accessLogging: [{}]', 'httpbin'),
        tel('bar', 'stdout', 'accessLogging: [{ providers: [{ name: stdout }] }]'),
        tel('baz', 'otel', 'accessLogging: [{ providers: [{ name: otel }] }]'),
      ].join('\n---\n'),
    ).filter((r) => ns === '*' || r.metadata.namespace !== ns);
  const log = (w: WorkloadIdentity) => telemetryFor(rs('*'), w, ENDPOINTS).telemetry.accessLog;
  assert.deepEqual(log(workload('foo', { app: 'sleep' })), { enabled: false, path: '/var/log/access.log' });
  assert.deepEqual(log(HTTPBIN), { enabled: true, path: '/var/log/access.log' });
  assert.deepEqual(log(workload('bar', { app: 'x' })), { enabled: true, path: '-' });
  // Only an OpenTelemetry log provider is named in baz: Trellis's sink is out of scope there.
  assert.deepEqual(log(workload('baz', { app: 'x' })), { enabled: false, path: '/var/log/access.log' });
  assert.deepEqual(log(workload('qux', { app: 'x' })), { enabled: true, path: '/var/log/access.log' });
  // Without --access-log: stdout.
  assert.deepEqual(telemetryFor(rs('*'), workload('qux', { app: 'x' })).telemetry.accessLog, {
    enabled: true,
    path: '-',
  });
});

function parseProblems(text: string): { errors: string[]; warnings: string[] } {
  const warnings: Diagnostic[] = [];
  try {
    parseResources(text, 'bad.yaml', { warnings });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { errors: err.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`), warnings: [] };
  }
  return { errors: [], warnings: warnings.map((d) => `${d.line}:${d.column} ${d.message}`) };
}

test('parsing: both versions and the short name; bad values refused, unknown fields warned and dropped', () => {
  assert.equal(resolveKind('telemetries'), 'Telemetry');
  assert.equal(resolveKind('telemetry'), 'Telemetry');
  const bad = parseProblems(`apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: { name: a }
spec:
  tracing:
  - randomSamplingPercentage: 150
  accessLogging:
  - match: { mode: SOMETIMES }
`);
  assert.equal(bad.errors.length, 2, bad.errors.join('\n'));
  assert.match(bad.errors[0]!, /^6:\d+ .*100/);
  assert.match(bad.errors[1]!, /^8:\d+ .*CLIENT_AND_SERVER/);
  const both = parseProblems(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: a }
spec:
  selector: { matchLabels: { app: a } }
  targetRef: { kind: Service, name: a }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: b }
spec:
  metrics:
  - overrides:
    - match: { metric: REQUEST_COUNT, customMetric: x }
`);
  assert.equal(both.errors.length, 2, both.errors.join('\n'));
  assert.match(both.errors[0]!, /give selector or targetRef\(s\), not both/);
  assert.match(both.errors[1]!, /give metric or customMetric, not both/);
  const unknown = parseProblems(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: a }
spec:
  tracing:
  - randomSamplingPercentage: 5
    samplingRate: 5
`);
  assert.deepEqual(unknown, {
    errors: [],
    warnings: ['7:5 unknown field "samplingRate" ignored'],
  });
});

test('warnings reach lowerMeshState (so trellis apply and analyze report them)', () => {
  const text = [
    tel('foo', 'a', 'tracing: [{ customTags: { t: { literal: { value: v } } } }]'),
    tel('foo', 'b', 'accessLogging: [{ filter: { expression: "response.code >= 400" } }]'),
    tel('foo', 'sel-1', 'accessLogging: [{}]', 'httpbin'),
    tel('foo', 'sel-2', 'accessLogging: [{}]', 'httpbin'),
    `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: httpbin-v1, namespace: foo, labels: { app: httpbin } }
spec: { service: httpbin, serviceAccount: httpbin, address: 10.0.0.1, ports: { inbound: 15006, app: 8000 }, protocol: http }`,
  ].join('\n---\n');
  const lowered = lowerMeshState(splitResources(parseResources(text, 'all.yaml')));
  assert.deepEqual(
    lowered.warnings.map((w) => `[${w.code}] ${w.resource} ${w.path}`),
    [
      '[lowering] resources/Telemetry/foo/a spec.tracing[0].customTags',
      '[lowering] resources/Telemetry/foo/b spec.accessLogging[0].filter.expression',
      '[conflict] resources/Telemetry/foo/b spec',
      '[conflict] resources/Telemetry/foo/sel-2 spec.selector',
    ],
  );
});

test('trellis analyze: a workload-level Telemetry selecting no workload of its namespace', () => {
  const text = [
    tel('foo', 'nobody', 'accessLogging: [{}]', 'nothing-here'),
    tel('istio-system', 'root-httpbin', 'accessLogging: [{}]', 'httpbin'),
    tel('foo', 'httpbin', 'accessLogging: [{}]', 'httpbin'),
    `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: httpbin-v1, namespace: foo, labels: { app: httpbin } }
spec: { service: httpbin, serviceAccount: httpbin, address: 10.0.0.1, ports: { inbound: 15006, app: 8000 }, protocol: http }`,
  ].join('\n---\n');
  const idle = analyzeResources(parseResources(text, 'all.yaml')).filter((f) => f.code === 'no-workloads');
  assert.deepEqual(
    idle.map((f) => f.resource),
    ['resources/Telemetry/foo/nobody', 'resources/Telemetry/istio-system/root-httpbin'],
  );
});
