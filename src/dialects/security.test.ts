// The security kinds lowered per workload: PeerAuthentication precedence (a table, and every
// combination against Istio's rule), which workloads a policy's scope reaches, what cannot be
// enforced left out without letting anything more through, and order never mattering.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MtlsMode } from '../model/security.ts';
import { parseResources } from '../resources/parse.ts';
import { validateResourceSet } from '../resources/validate.ts';
import { analyzeResources } from './analyze.ts';
import { shuffled } from './golden.ts';
import {
  isDialectResource,
  lowerSecurityWarnings,
  securityFor,
  type DialectResource,
  type WorkloadIdentity,
} from './index.ts';
import { headerValueOf } from './smi/traffic-target.ts';

const OPTS = { trustDomain: 'cluster.local' };

function dialects(text: string): DialectResource[] {
  return parseResources(text, 'policies.yaml').filter(isDialectResource);
}

function workload(
  namespace: string,
  labels: Record<string, string>,
  appPort = 8080,
  serviceAccount = 'sa',
): WorkloadIdentity {
  return { namespace, labels, serviceAccount, appPort };
}

type Mode = 'UNSET' | MtlsMode | undefined;

/** A PeerAuthentication document; `selector` makes it workload-level, `port` adds portLevelMtls for 8080. */
function pa(ns: string, name: string, mode: Mode, extra: { selector?: string; port?: Mode } = {}): string {
  const lines = [
    'apiVersion: security.istio.io/v1',
    'kind: PeerAuthentication',
    `metadata: { name: ${name}, namespace: ${ns} }`,
    'spec:',
    '  {}',
  ];
  const spec: string[] = [];
  if (extra.selector !== undefined) spec.push(`  selector: { matchLabels: { app: ${extra.selector} } }`);
  if (mode !== undefined) spec.push(`  mtls: { mode: ${mode} }`);
  if (extra.port !== undefined) spec.push(`  portLevelMtls: { "8080": { mode: ${extra.port} } }`);
  return [...lines.slice(0, 4), ...(spec.length === 0 ? [lines[4]!] : spec)].join('\n');
}

function mtlsOf(docs: string[], w: WorkloadIdentity = workload('foo', { app: 'finance' })): MtlsMode {
  return securityFor(dialects(docs.join('\n---\n')), w, OPTS).mtls;
}

test('PeerAuthentication precedence: workload > namespace > mesh, UNSET inherits, port level last', () => {
  const mesh = (m: Mode) => pa('istio-system', 'default', m);
  const ns = (m: Mode) => pa('foo', 'default', m);
  const wl = (m: Mode, port?: Mode) =>
    pa('foo', 'finance', m, { selector: 'finance', ...(port ? { port } : {}) });
  const table: [string, string[], MtlsMode][] = [
    ['nothing applied', [], 'PERMISSIVE'],
    ['mesh STRICT', [mesh('STRICT')], 'STRICT'],
    ['mesh UNSET', [mesh('UNSET')], 'PERMISSIVE'],
    ['namespace over mesh', [mesh('STRICT'), ns('PERMISSIVE')], 'PERMISSIVE'],
    ['namespace UNSET inherits the mesh', [mesh('STRICT'), ns('UNSET')], 'STRICT'],
    ['namespace without mtls inherits', [mesh('DISABLE'), ns(undefined)], 'DISABLE'],
    ['workload over namespace', [mesh('STRICT'), ns('PERMISSIVE'), wl('DISABLE')], 'DISABLE'],
    ['workload UNSET inherits the namespace', [mesh('STRICT'), ns('PERMISSIVE'), wl('UNSET')], 'PERMISSIVE'],
    ['port over workload', [ns('PERMISSIVE'), wl('STRICT', 'DISABLE')], 'DISABLE'],
    ['port UNSET inherits the workload', [ns('PERMISSIVE'), wl('STRICT', 'UNSET')], 'STRICT'],
    [
      'port UNSET with workload UNSET: the namespace',
      [mesh('STRICT'), ns('DISABLE'), wl('UNSET', 'UNSET')],
      'DISABLE',
    ],
  ];
  for (const [what, docs, want] of table) assert.equal(mtlsOf(docs), want, what);
  // Another namespace's policy, and a port the workload does not serve, change nothing.
  assert.equal(mtlsOf([pa('bar', 'default', 'STRICT')]), 'PERMISSIVE');
  assert.equal(mtlsOf([wl('STRICT', 'DISABLE')], workload('foo', { app: 'finance' }, 9080)), 'STRICT');
  // A workload the selector does not match gets the namespace's mode.
  assert.equal(mtlsOf([ns('STRICT'), wl('DISABLE')], workload('foo', { app: 'ledger' })), 'STRICT');
  // A workload of the root namespace is under the mesh policy; a root policy with a selector reaches every namespace.
  assert.equal(mtlsOf([mesh('STRICT')], workload('istio-system', { app: 'x' })), 'STRICT');
  assert.equal(
    mtlsOf([pa('istio-system', 'finance', 'DISABLE', { selector: 'finance' }), ns('STRICT')]),
    'DISABLE',
  );
});

test('PeerAuthentication: every combination of levels follows Istio rule (last set level wins, UNSET skipped)', () => {
  const modes: Mode[] = [undefined, 'UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE'];
  let checked = 0;
  for (const m of modes)
    for (const n of modes)
      for (const w of modes)
        for (const p of modes) {
          const docs = [
            ...(m === undefined ? [] : [pa('istio-system', 'default', m)]),
            ...(n === undefined ? [] : [pa('foo', 'default', n)]),
            ...(w === undefined
              ? []
              : [pa('foo', 'finance', w, { selector: 'finance', ...(p ? { port: p } : {}) })]),
          ];
          // Port-level settings exist only on a workload-level policy.
          const levels = [m, n, w, w === undefined ? undefined : p];
          let want: MtlsMode = 'PERMISSIVE';
          for (const l of levels) if (l !== undefined && l !== 'UNSET') want = l;
          assert.equal(mtlsOf(docs), want, `mesh=${m} ns=${n} workload=${w} port=${p}`);
          checked++;
        }
  assert.equal(checked, 625);
});

test('PeerAuthentication: of two at one level the first by name wins, and the other is warned about', () => {
  const docs = [
    pa('foo', 'b-strict', 'STRICT'),
    pa('foo', 'a-disable', 'DISABLE'),
    pa('foo', 'z-wl', 'STRICT', { selector: 'finance' }),
    pa('foo', 'y-wl', 'PERMISSIVE', { selector: 'finance' }),
  ];
  const rs = dialects(docs.join('\n---\n'));
  const ledger = workload('foo', { app: 'ledger' });
  assert.equal(securityFor(rs, ledger, OPTS).mtls, 'DISABLE');
  assert.equal(securityFor(rs, workload('foo', { app: 'finance' }), OPTS).mtls, 'PERMISSIVE');
  const wl = parseResources(
    `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: finance-v1, namespace: foo, labels: { app: finance } }
spec: { service: finance, serviceAccount: finance, address: 10.1.0.1, ports: { inbound: 15006, app: 8080 }, protocol: http }`,
    'w.yaml',
  ).flatMap((r) => (r.kind === 'Workload' ? [r] : []));
  const warnings = lowerSecurityWarnings(rs, wl).map(
    (w) => `${w.code} ${w.resource} ${w.path}: ${w.message}`,
  );
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(
    warnings[0]!,
    /^conflict resources\/PeerAuthentication\/foo\/b-strict spec: ignored: PeerAuthentication foo\/a-disable is namespace-wide too/,
  );
  assert.match(
    warnings[1]!,
    /^conflict resources\/PeerAuthentication\/foo\/z-wl spec.selector: ignored: PeerAuthentication foo\/y-wl selects/,
  );
  // The same warnings reach `trellis apply` through the resource set checks.
  const applied = validateResourceSet([...rs, ...wl]).map((w) => w.resource);
  assert.ok(applied.includes('resources/PeerAuthentication/foo/b-strict'));
  assert.ok(applied.includes('resources/PeerAuthentication/foo/z-wl'));
});

const SCOPED = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: root-v1, namespace: istio-system }
spec: { selector: { matchLabels: { version: v1 } } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: root-all, namespace: istio-system }
spec: { action: DENY, rules: [{ from: [{ source: { namespaces: [evil] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ns-wide, namespace: foo }
spec: { selector: { matchLabels: {} }, rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: httpbin, namespace: foo }
spec: { selector: { matchLabels: { app: httpbin } }, rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: by-service, namespace: foo }
spec: { targetRefs: [{ kind: Service, name: reviews }], rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: httpbin, namespace: foo }
spec:
  selector: { matchLabels: { app: httpbin } }
  jwtRules: [{ issuer: a, jwksUri: "https://a.example/jwks" }]
`;

test('scope: root namespace reaches every namespace, a namespace only its own, selectors and Service targets narrow', () => {
  const rs = dialects(SCOPED);
  const names = (w: WorkloadIdentity): string[] =>
    securityFor(rs, w, OPTS).inbound.authorization.map((p) => p.name);
  assert.deepEqual(names(workload('foo', { app: 'httpbin', version: 'v1' })), [
    'foo/httpbin',
    'foo/ns-wide',
    'istio-system/root-all',
    'istio-system/root-v1',
  ]);
  assert.deepEqual(names(workload('foo', { app: 'reviews', version: 'v2' })), [
    'foo/by-service',
    'foo/ns-wide',
    'istio-system/root-all',
  ]);
  assert.deepEqual(names(workload('bar', { app: 'httpbin', version: 'v1' })), [
    'istio-system/root-all',
    'istio-system/root-v1',
  ]);
  assert.deepEqual(names(workload('bar', { app: 'reviews' })), ['istio-system/root-all']);
  const jwt = (w: WorkloadIdentity): string[] =>
    securityFor(rs, w, OPTS).inbound.jwtRules.map((r) => r.issuer);
  assert.deepEqual(jwt(workload('foo', { app: 'httpbin' })), ['a']);
  assert.deepEqual(jwt(workload('bar', { app: 'httpbin' })), []);
  // Every order the resources could be listed in gives the same answer.
  const w = workload('foo', { app: 'httpbin', version: 'v1' });
  const want = securityFor(rs, w, OPTS);
  for (const seed of [3, 9, 27]) assert.deepEqual(securityFor(shuffled(rs, seed), w, OPTS), want);
  assert.deepEqual(
    want.origins.map((o) => `${o.policy} <- ${o.resource}`),
    [
      'jwtRules[0] <- RequestAuthentication/foo/httpbin',
      'foo/httpbin <- AuthorizationPolicy/foo/httpbin',
      'foo/ns-wide <- AuthorizationPolicy/foo/ns-wide',
      'istio-system/root-all <- AuthorizationPolicy/istio-system/root-all',
      'istio-system/root-v1 <- AuthorizationPolicy/istio-system/root-v1',
    ],
  );
  // Another root namespace makes istio-system an ordinary namespace.
  const other = securityFor(rs, workload('bar', { app: 'httpbin', version: 'v1' }), {
    ...OPTS,
    rootNamespace: 'mesh-root',
  });
  assert.deepEqual(other.inbound.authorization, []);
});

test('what cannot be evaluated never lets more through: an ALLOW rule matches nothing, a DENY rule denies more', () => {
  const rs = dialects(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow, namespace: foo }
spec:
  rules:
  - when: [{ key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"] }]
  - to: [{ operation: { methods: [GET] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny, namespace: foo }
spec:
  action: DENY
  rules:
  - from: [{ source: { namespaces: [dev] } }]
    when: [{ key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"] }]
`);
  const sec = securityFor(rs, workload('foo', {}), OPTS);
  assert.deepEqual(sec.inbound.authorization, [
    { name: 'foo/allow', action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
    { name: 'foo/deny', action: 'DENY', rules: [{ from: [{ source: { namespaces: ['dev'] } }] }] },
  ]);
  const warned = lowerSecurityWarnings(rs, []).map((w) => `${w.resource} ${w.path}`);
  assert.deepEqual(warned, [
    'resources/AuthorizationPolicy/foo/allow spec.rules[0].when[0].key',
    'resources/AuthorizationPolicy/foo/deny spec.rules[0].when[0].key',
  ]);
});

test('TrafficTarget: principals in the trust domain; another namespace destination is refused', () => {
  const rs = dialects(`apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: db, namespace: shop }
spec:
  destination: { kind: ServiceAccount, name: db }
  rules: [{ kind: TCPRoute, name: mysql }]
  sources: [{ kind: ServiceAccount, name: api }, { kind: ServiceAccount, name: batch, namespace: jobs }]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: { name: mysql, namespace: shop }
spec: { matches: { ports: [3306] } }
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: grab, namespace: shop }
spec:
  destination: { kind: ServiceAccount, name: db, namespace: payments }
  rules: [{ kind: TCPRoute, name: mysql }]
  sources: [{ kind: ServiceAccount, name: api }]
`);
  const db = securityFor(rs, workload('shop', {}, 3306, 'db'), { trustDomain: 'example.org' });
  assert.deepEqual(db.inbound.authorization, [
    {
      name: 'shop/db',
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['example.org/ns/shop/sa/api', 'example.org/ns/jobs/sa/batch'] } }],
          to: [{ operation: { ports: ['3306'] } }],
        },
      ],
    },
  ]);
  assert.deepEqual(securityFor(rs, workload('payments', {}, 3306, 'db'), OPTS).inbound.authorization, []);
  assert.deepEqual(securityFor(rs, workload('shop', {}, 3306, 'other'), OPTS).origins, []);
  assert.match(
    lowerSecurityWarnings(rs, [])
      .map((w) => `${w.resource} ${w.path}: ${w.message}`)
      .join('\n'),
    /TrafficTarget\/shop\/grab spec.destination.namespace: a TrafficTarget grants access to service accounts of its own namespace only/,
  );
});

test('SMI header patterns become Istio string matches where one can say them', () => {
  const cases: [string, string | undefined][] = [
    ['insider', 'insider'],
    ['^insider$', 'insider'],
    ['Mozilla/.*', 'Mozilla/*'],
    ['.*Android', '*Android'],
    ['2\\.0\\..*', '2.0.*'],
    ['.*', '*'],
    ['.+', '*'],
    ['.*iPhone.*', undefined],
    ['a|b', undefined],
    ['v\\d+', undefined],
    ['a*', undefined],
    ['', undefined],
  ];
  for (const [pattern, want] of cases) assert.equal(headerValueOf(pattern), want, pattern);
});

test('analyze: a security policy whose selector or destination no workload answers to is a no-workloads warning', () => {
  const findings = analyzeResources(
    parseResources(
      `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: httpbin-v1, namespace: foo, labels: { app: httpbin } }
spec: { service: httpbin, serviceAccount: httpbin, address: 10.1.0.1, ports: { inbound: 15006, app: 8000 }, protocol: http }
---
${pa('foo', 'nobody', 'STRICT', { selector: 'nobody' })}
---
${pa('istio-system', 'httpbin', 'STRICT', { selector: 'httpbin' })}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: ghost, namespace: foo }
spec: { destination: { kind: ServiceAccount, name: ghost }, rules: [{ kind: TCPRoute, name: any }] }
`,
      'idle.yaml',
    ),
  );
  assert.deepEqual(
    findings.filter((f) => f.code === 'no-workloads').map((f) => `${f.resource} ${f.path}: ${f.message}`),
    [
      'resources/PeerAuthentication/foo/nobody spec.selector: selects no workload',
      'resources/TrafficTarget/foo/ghost spec.destination: no workload runs as service account foo/ghost',
    ],
  );
});
