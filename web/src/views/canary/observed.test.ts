import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Golden, StatItem, WorkloadObject } from '../../types.ts';
import { trafficOf, versionsOf } from '../service/versions.ts';
import { observedRows } from './observed.ts';
import type { SplitRule } from './use-splits.ts';

const golden = (rps: number): Golden => ({
  successCount: 1,
  failureCount: 0,
  successRate: 1,
  rps,
  latencyMs: { p50: 1, p90: 1, p95: 1, p99: 1 },
  tcp: null,
});
const stat = (name: string, rps: number | null): StatItem => ({
  namespace: 'default',
  name,
  meshed: { connected: 1, total: 1 },
  stats: rps === null ? null : golden(rps),
});
const workload = (name: string, app: string, version: string): WorkloadObject => ({
  apiVersion: 'trellis.io/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace: 'default', labels: { app, version } },
  spec: { service: app, serviceAccount: app, address: '127.0.0.1', ready: true },
});
const endpoint = (workloadName: string, version: string) => ({
  workload: workloadName,
  address: '127.0.0.1',
  inboundPort: 1,
  appPort: 2,
  version,
  ready: true,
  serviceAccount: 'reviews',
});

test('versions map to deployments by the workload labels, else by the service name', () => {
  const workloads = [workload('reviews-v1-abc', 'reviews', 'v1')];
  assert.deepEqual(
    versionsOf([endpoint('reviews-v1-abc', 'v1'), endpoint('reviews-v2-def', 'v2')], workloads, 'reviews'),
    [
      { version: 'v1', deployment: 'reviews-v1', workloads: ['reviews-v1-abc'] },
      { version: 'v2', deployment: 'reviews-v2', workloads: ['reviews-v2-def'] },
    ],
  );
  const shares = trafficOf(
    versionsOf([endpoint('reviews-v1-abc', 'v1'), endpoint('reviews-v2-def', 'v2')], workloads, 'reviews'),
    'default',
    [stat('reviews-v1', 9), stat('reviews-v2', 1), stat('web-v1', 100)],
  );
  assert.deepEqual(
    shares.map((s) => s.share),
    [0.9, 0.1],
  );
  assert.deepEqual(
    trafficOf([{ version: 'v1', deployment: 'reviews-v1', workloads: [] }], 'default', []).map(
      (s) => s.share,
    ),
    [null],
  );
});

test('observed shares: per version of the rule, each deployment counted once', () => {
  const v1 = { version: 'v1', deployment: 'reviews-v1', workloads: ['a'] };
  const v2 = { version: 'v2', deployment: 'reviews-v2', workloads: ['b'] };
  const rule: SplitRule = {
    index: 1,
    name: 'canary',
    when: 'every request',
    backends: [
      {
        service: 'reviews-v1',
        ref: { namespace: 'default', name: 'reviews-v1' },
        weight: 90,
        share: 0.9,
        versions: [v1],
        missing: false,
      },
      {
        service: 'reviews-v2',
        ref: { namespace: 'default', name: 'reviews-v2' },
        weight: 10,
        share: 0.1,
        versions: [v2],
        missing: false,
      },
      {
        service: 'reviews-all',
        ref: { namespace: 'default', name: 'reviews-all' },
        weight: 0,
        share: 0,
        versions: [v1, v2],
        missing: false,
      },
      {
        service: 'reviews--v3',
        ref: { namespace: 'default', name: 'reviews--v3' },
        weight: 0,
        share: 0,
        versions: [],
        missing: true,
      },
    ],
  };
  const rows = observedRows(rule, [stat('reviews-v1', 6), stat('reviews-v2', 2)]);
  assert.deepEqual(
    rows.map((r) => [
      r.backend.service,
      r.version?.version,
      r.observed,
      r.backendObserved,
      r.shared,
      r.firstOfBackend,
    ]),
    [
      ['reviews-v1', 'v1', 0.75, 0.75, true, true],
      ['reviews-v2', 'v2', 0.25, 0.25, true, true],
      ['reviews-all', 'v1', 0.75, 1, true, true],
      ['reviews-all', 'v2', 0.25, 1, true, false],
      ['reviews--v3', undefined, null, 0, false, true],
    ],
  );
  assert.deepEqual(
    observedRows(rule, [stat('reviews-v1', null)]).map((r) => r.observed),
    [null, null, null, null, null],
  );
});
