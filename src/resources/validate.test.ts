import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResources } from './parse.ts';
import { validateResourceSet } from './validate.ts';

const base = `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: reviews-1, labels: { app: reviews, version: v1 } }
spec:
  service: reviews
  serviceAccount: reviews
  address: 10.0.0.1
  ports: { inbound: 15006, app: 9080 }
  protocol: http
---
apiVersion: v1
kind: Service
metadata: { name: reviews-v1 }
spec: { selector: { app: reviews, version: v1 }, ports: [{ port: 9080 }] }
`;

test('a consistent set has no warnings', () => {
  const rs = parseResources(
    `${base}---
apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: reviews }
spec: { service: reviews, routes: [{ backends: [{ service: reviews-v1 }, { service: reviews.default }] }] }
`,
    'ok.yaml',
  );
  assert.deepEqual(validateResourceSet(rs), []);
});

test('routes to services that do not exist yet are warnings, with the path of the reference', () => {
  const rs = parseResources(
    `${base}---
apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: ghost, namespace: team }
spec: { service: ghost, routes: [{ backends: [{ service: reviews-v1 }, { service: reviews-v1.default }] }] }
---
apiVersion: trellis.io/v1alpha1
kind: TrafficPolicy
metadata: { name: ghost }
spec: { service: ghost.team }
`,
    'refs.yaml',
  );
  assert.deepEqual(validateResourceSet(rs), [
    {
      resource: 'resources/TrafficPolicy/default/ghost',
      path: 'spec.service',
      message: 'service "ghost.team" does not exist (yet)',
    },
    {
      resource: 'resources/TrafficRoute/team/ghost',
      path: 'spec.service',
      message: 'service "ghost.team" does not exist (yet)',
    },
    {
      // A bare name is relative to the route's namespace ("team"), so this one is missing.
      resource: 'resources/TrafficRoute/team/ghost',
      path: 'spec.routes[0].backends[0].service',
      message:
        'service "reviews-v1.team" does not exist (yet): requests sent to it fail with 503 until it does',
    },
  ]);
});

test('two TrafficRoutes or TrafficPolicies for one service: the first by namespace/name wins, the other is flagged', () => {
  const route = (name: string, ns: string, svc: string): string => `---
apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: ${name}, namespace: ${ns} }
spec: { service: ${svc}, routes: [{ backends: [{ service: reviews.default }] }] }
`;
  const policy = (name: string): string => `---
apiVersion: trellis.io/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name} }
spec: { service: reviews, lb: { policy: random } }
`;
  const text =
    base +
    route('zeta', 'default', 'reviews') +
    route('alpha', 'default', 'reviews.default.svc') +
    route('aaa', 'other', 'reviews.default') +
    policy('p2') +
    policy('p1');
  const warnings = validateResourceSet(parseResources(text, 'dup.yaml'));
  assert.deepEqual(
    warnings.map((w) => [w.resource, w.message]),
    [
      [
        'resources/TrafficPolicy/default/p2',
        'ignored: TrafficPolicy default/p1 also applies to service "reviews.default" and sorts first',
      ],
      [
        'resources/TrafficRoute/default/zeta',
        'ignored: TrafficRoute default/alpha also applies to service "reviews.default" and sorts first',
      ],
      [
        'resources/TrafficRoute/other/aaa',
        'ignored: TrafficRoute default/alpha also applies to service "reviews.default" and sorts first',
      ],
    ],
  );
});

test('a Service without a selector is flagged: it selects no workloads', () => {
  const rs = parseResources(
    `apiVersion: v1
kind: Service
metadata: { name: external-db }
spec: { ports: [{ port: 5432 }] }
`,
    'svc.yaml',
  );
  assert.deepEqual(validateResourceSet(rs), [
    {
      resource: 'resources/Service/default/external-db',
      path: 'spec.selector',
      message: 'no selector: this Service selects no workloads',
    },
  ]);
});
