// Security resources that Istio (or SMI) would refuse are refused when applied, each problem with
// its file:line:column; an unknown field inside them is an error too (see common/closed.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseResources } from '../resources/parse.ts';
import './index.ts';

function parseErrors(text: string): string[] {
  try {
    parseResources(text, 'bad.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`);
  }
  return assert.fail('expected a ConfigError');
}

test('bad security resources are refused with file:line:column; unknown fields too, unlike other kinds', () => {
  assert.deepEqual(
    parseErrors(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: a }
spec:
  selectr: { matchLabels: { app: a } }
  rules:
  - from:
    - source: { principal: [x] }
  - to:
    - operation: { ports: ["99999"] }
    when:
    - { key: request.bogus, values: [x] }
    - { key: source.ip, values: [not-an-ip] }
    - { key: "request.headers[x-a]" }
`),
    [
      '5:12 unknown field "selectr": refused, as ignoring it in a security policy would change who is allowed',
      '8:28 unknown field "principal": refused, as ignoring it in a security policy would change who is allowed',
      '10:28 must be a port number in 0..65535',
      '12:14 not an attribute Istio conditions know (see its conditions page)',
      '13:33 source.ip takes IP addresses or CIDR blocks',
      '14:7 give values or notValues',
    ],
  );
  assert.deepEqual(
    parseErrors(`apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: { name: a }
spec:
  selector: { matchLabels: { app: a } }
  targetRef: { kind: Service, name: a }
  action: CUSTOM
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b }
spec: { provider: { name: ext }, rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: c }
spec:
  mtls: { mode: STRICT }
  portLevelMtls: { "8080": { mode: DISABLE } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: d }
spec: { mtls: { mode: MUTUAL } }
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: e }
spec:
  jwtRules:
  - issuer: a
    jwks: '{"keys": []}'
    jwksUri: https://a.example/jwks
  - issuer: b
    jwks: 'not json'
  - jwksUri: not-a-url
`),
    [
      // A required field that is missing is reported where its object starts.
      '5:3 action CUSTOM needs a provider',
      '5:13 give selector or targetRef(s), not both',
      '12:74 must be an IP address or a CIDR block (e.g. "10.0.0.0/16")',
      '19:18 port-level mTLS needs a workload selector (Istio refuses it mesh- or namespace-wide)',
      '24:23 Invalid option: expected one of "UNSET"|"DISABLE"|"PERMISSIVE"|"STRICT"',
      '32:11 give one of jwks, jwksUri, jwksFile',
      '35:11 must be a JSON Web Key Set: JSON with a "keys" array',
      '36:5 Invalid input: expected string, received undefined',
      '36:14 Invalid URL',
    ],
  );
  assert.deepEqual(
    parseErrors(`apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: a }
spec:
  destination: { kind: ServiceAccount, name: api, port: 8080 }
  rules: [{ kind: UDPRoute, name: r }]
  sources: [{ kind: User, name: u }]
---
apiVersion: access.smi-spec.io/v1alpha1
kind: TrafficTarget
metadata: { name: b }
sources: [{ kind: ServiceAccount, name: s }]
`),
    [
      '5:57 unknown field "port": refused, as ignoring it in a security policy would change who is allowed',
      '6:19 Invalid option: expected one of "HTTPRouteGroup"|"TCPRoute"',
      '7:21 Invalid option: expected one of "ServiceAccount"|"Group"',
      '9:1 a TrafficTarget needs a destination',
    ],
  );
});
