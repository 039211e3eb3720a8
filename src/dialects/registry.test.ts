// Other meshes' kinds through src/resources: parsed from YAML as written (unknown fields warned
// at their line and column, then dropped), unknown kinds and apiVersions refused, stored under
// resources/<Kind>/<ns>/<name>, named by their CLI aliases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, type Diagnostic } from '../errors.ts';
import { allKinds, resolveKind, resourceKey } from '../resources/kinds.ts';
import { parseResources } from '../resources/parse.ts';
import { validateResourceSet } from '../resources/validate.ts';
import './index.ts';

const VS = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
  resourceVersion: "42"
spec:
  hosts: [reviews]
  http:
  - match:
    - headers: { end-user: { exact: jason } }
      uri: { prefx: /typo }
    timout: 2s
    route:
    - destination: { host: reviews, subset: v2 }
status: { observedGeneration: 3 }
`;

function errors(text: string): Diagnostic[] {
  try {
    parseResources(text, 'bad.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.diagnostics;
  }
  assert.fail('expected a ConfigError');
}

test('a VirtualService parses as written; unknown fields are warnings at their key, then dropped', () => {
  const warnings: Diagnostic[] = [];
  const [vs] = parseResources(VS, 'vs.yaml', { warnings });
  assert.ok(vs?.kind === 'VirtualService');
  assert.equal(resourceKey(vs), 'resources/VirtualService/shop/reviews');
  assert.deepEqual(
    warnings.map((w) => [w.line, w.column, w.path, w.message]),
    [
      [12, 14, 'spec.http[0].match[0].uri.prefx', 'unknown field "prefx" ignored'],
      [13, 5, 'spec.http[0].timout', 'unknown field "timout" ignored'],
    ],
  );
  // Dropped: what is stored reads back without a warning, unchanged (a store round trip).
  const again: Diagnostic[] = [];
  const [copy] = parseResources(JSON.stringify(vs), 'store.json', { warnings: again });
  assert.deepEqual(again, []);
  assert.deepEqual(copy, vs);
  assert.equal('status' in vs, false);
  assert.deepEqual(vs.spec.http[0]?.match?.[0]?.uri, {});
});

test('every dialect kind and apiVersion parses; short names resolve', () => {
  const docs = [
    ['networking.istio.io/v1', 'VirtualService', '{ hosts: [a] }'],
    ['networking.istio.io/v1alpha3', 'DestinationRule', '{ host: a }'],
    ['networking.istio.io/v1beta1', 'ServiceEntry', '{ hosts: [a.example.com] }'],
    ['networking.istio.io/v1', 'Sidecar', '{ egress: [{ hosts: ["./*"] }] }'],
    [
      'split.smi-spec.io/v1alpha1',
      'TrafficSplit',
      '{ service: a, backends: [{ service: b, weight: 500m }] }',
    ],
    ['split.smi-spec.io/v1alpha3', 'TrafficSplit', '{ service: a, backends: [{ service: b, weight: 5 }] }'],
    ['specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', '{ matches: [{ name: all }] }'],
    ['specs.smi-spec.io/v1alpha4', 'TCPRoute', '{ matches: { ports: [3306] } }'],
    ['gateway.networking.k8s.io/v1', 'HTTPRoute', '{ parentRefs: [{ kind: Service, name: a }] }'],
    ['gateway.networking.k8s.io/v1', 'GRPCRoute', '{ parentRefs: [{ kind: Service, name: a }] }'],
    ['linkerd.io/v1alpha2', 'ServiceProfile', '{ routes: [] }'],
    ['security.istio.io/v1', 'PeerAuthentication', '{ mtls: { mode: STRICT } }'],
    ['security.istio.io/v1beta1', 'AuthorizationPolicy', '{}'],
    ['security.istio.io/v1', 'RequestAuthentication', '{ jwtRules: [{ issuer: a, jwksFile: /k.json }] }'],
    [
      'access.smi-spec.io/v1alpha2',
      'TrafficTarget',
      '{ destination: { kind: ServiceAccount, name: a }, rules: [{ kind: TCPRoute, name: t }] }',
    ],
    ['access.smi-spec.io/v1alpha3', 'TrafficTarget', '{ destination: { kind: ServiceAccount, name: a } }'],
    ['telemetry.istio.io/v1alpha1', 'Telemetry', '{ accessLogging: [{ providers: [{ name: envoy }] }] }'],
  ];
  const text = docs
    .map(([v, k, spec], i) => `apiVersion: ${v}\nkind: ${k}\nmetadata: { name: r${i}.x }\nspec: ${spec}\n`)
    .join('---\n');
  const rs = parseResources(text, 'all.yaml');
  assert.deepEqual(
    rs.map((r) => r.kind),
    docs.map(([, k]) => k),
  );
  const aliases: Record<string, string> = {
    vs: 'VirtualService',
    virtualservices: 'VirtualService',
    dr: 'DestinationRule',
    se: 'ServiceEntry',
    sidecar: 'Sidecar',
    ts: 'TrafficSplit',
    httproutegroup: 'HTTPRouteGroup',
    tcproute: 'TCPRoute',
    HTTPRoute: 'HTTPRoute',
    grpcroutes: 'GRPCRoute',
    sp: 'ServiceProfile',
    pa: 'PeerAuthentication',
    authorizationpolicies: 'AuthorizationPolicy',
    ap: 'AuthorizationPolicy',
    ra: 'RequestAuthentication',
    traffictarget: 'TrafficTarget',
    tt: 'TrafficTarget',
    telemetries: 'Telemetry',
    svc: 'Service',
    tr: 'TrafficRoute',
  };
  for (const [alias, kind] of Object.entries(aliases)) assert.equal(resolveKind(alias), kind, alias);
  for (const k of ['VirtualService', 'TrafficSplit', 'HTTPRoute', 'ServiceProfile'])
    assert.ok(allKinds().includes(k as never));
});

test('unknown kinds and apiVersions are errors with their position; SMI v1alpha2 has no matches', () => {
  const unknownKind = errors(
    'apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: { name: x }\n',
  );
  assert.equal(unknownKind.length, 1);
  assert.equal(unknownKind[0]?.line, 2);
  assert.match(unknownKind[0]!.message, /unknown kind "WasmPlugin" \(known kinds: Service, .*VirtualService/);
  // A known kind under another group's apiVersion names the ones it is served as.
  const wrongGroup = errors(
    'apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: x }\n',
  );
  assert.match(
    wrongGroup[0]!.message,
    /unknown apiVersion "networking.istio.io\/v1" for kind PeerAuthentication \(use one of "security.istio.io\/v1"/,
  );
  const badVersion = errors(
    'apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: { name: x }\nspec: {}\n',
  );
  assert.equal(badVersion[0]?.line, 1);
  assert.match(
    badVersion[0]!.message,
    /unknown apiVersion "networking.istio.io\/v2" for kind VirtualService \(use one of "networking.istio.io\/v1"/,
  );
  // An invalid value is still an error, with the position of the value.
  const badRegex = errors(
    'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\nspec:\n  hosts: [a]\n  http: [{ match: [{ uri: { regex: "(" } }], route: [{ destination: { host: a } }] }]\n',
  );
  assert.equal(badRegex[0]?.line, 6);
  assert.match(badRegex[0]!.message, /invalid RE2 pattern/);
  const warnings: Diagnostic[] = [];
  parseResources(
    'apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: { name: x }\nspec: { service: a, backends: [{ service: b, weight: 1 }], matches: [] }\n',
    'old.yaml',
    { warnings },
  );
  assert.deepEqual(
    warnings.map((w) => `${w.line}:${w.column} ${w.message}`),
    ['4:60 unknown field "matches" ignored'],
  );
});

test('native kinds stay strict: an unknown field of a Trellis kind is still an error', () => {
  const d = errors(
    'apiVersion: v1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 80 }], bogus: 1 }\n',
  );
  assert.equal(d[0]?.message, 'unknown field "bogus"');
});

test('applying a set reports how dialect resources lower and conflict, beside the native warnings', () => {
  const rs = parseResources(
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 } }] }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }
`,
    'two.yaml',
  );
  const messages = validateResourceSet(rs).map((w) => `${w.resource} ${w.path}: ${w.message}`);
  assert.ok(
    messages.some((m) =>
      m.startsWith(
        'resources/VirtualService/default/a spec.http[0].route[0].destination.subset: subset "v1"',
      ),
    ),
  );
  assert.ok(
    messages.some((m) =>
      m.startsWith(
        'resources/VirtualService/default/b spec: ignored for reviews.default: VirtualService default/a',
      ),
    ),
  );
});
