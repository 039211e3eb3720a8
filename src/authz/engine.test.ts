// The decision across policies (DENY before ALLOW, AUDIT, allow-nothing, allow-all, no policies),
// TCP connections meeting HTTP-only fields (ALLOW: the rule never matches; DENY/AUDIT: the fields
// are ignored), and the config errors that refuse a policy set.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthzPolicy } from '../model/security.ts';
import type { RequestAttributes } from './attributes.ts';
import { compileAuthorization } from './engine.ts';
import type { AuthzDecision } from './engine.ts';
import { AuthzConfigError } from './errors.ts';
import { peer, policy, request, tcp } from './testing.ts';

interface DecisionCase {
  name: string;
  policies: AuthzPolicy[];
  req?: RequestAttributes;
  expect: Partial<AuthzDecision>;
}

const fromWeb = { from: [{ source: { principals: ['cluster.local/ns/default/sa/web'] } }] };
const fromApi = { from: [{ source: { principals: ['cluster.local/ns/default/sa/api'] } }] };
const getOnly = { to: [{ operation: { methods: ['GET'] } }] };
const postOnly = { to: [{ operation: { methods: ['POST'] } }] };

const decisions: DecisionCase[] = [
  {
    name: 'no policies: allowed',
    policies: [],
    expect: { allowed: true, reason: 'no authorization policies', audit: [] },
  },
  {
    name: 'a DENY that does not match, no ALLOW: allowed',
    policies: [policy('d', 'DENY', [fromApi])],
    expect: { allowed: true, policy: undefined },
  },
  {
    name: 'a matching DENY: denied, naming the policy',
    policies: [policy('d', 'DENY', [fromWeb])],
    expect: { allowed: false, policy: 'd', reason: 'DENY policy d rules[0] matched' },
  },
  {
    name: 'DENY wins over a matching ALLOW',
    policies: [policy('a', 'ALLOW', [fromWeb]), policy('d', 'DENY', [getOnly])],
    expect: { allowed: false, policy: 'd' },
  },
  {
    name: 'a matching ALLOW: allowed, naming the policy and rule',
    policies: [policy('a', 'ALLOW', [fromApi, fromWeb])],
    expect: { allowed: true, policy: 'a', reason: 'ALLOW policy a rules[1] matched' },
  },
  {
    name: 'ALLOW policies of which none matches: denied',
    policies: [policy('a', 'ALLOW', [fromApi]), policy('b', 'ALLOW', [postOnly])],
    expect: { allowed: false, policy: undefined, reason: 'no ALLOW policy matched' },
  },
  {
    name: 'one of several ALLOW policies matching is enough',
    policies: [policy('a', 'ALLOW', [fromApi]), policy('b', 'ALLOW', [getOnly])],
    expect: { allowed: true, policy: 'b' },
  },
  {
    name: 'allow-nothing (ALLOW without rules) denies everything',
    policies: [policy('none', 'ALLOW', [])],
    expect: { allowed: false },
  },
  {
    name: 'allow-nothing next to a matching ALLOW: allowed',
    policies: [policy('none', 'ALLOW', []), policy('a', 'ALLOW', [fromWeb])],
    expect: { allowed: true, policy: 'a' },
  },
  {
    name: 'allow-all (rules: [{}]) allows everything',
    policies: [policy('all', 'ALLOW', [{}])],
    expect: { allowed: true, policy: 'all' },
  },
  {
    name: 'a DENY without rules matches nothing',
    policies: [policy('d', 'DENY', [])],
    expect: { allowed: true },
  },
  {
    name: 'deny-all (DENY rules: [{}]) denies everything',
    policies: [policy('d', 'DENY', [{}]), policy('all', 'ALLOW', [{}])],
    expect: { allowed: false, policy: 'd' },
  },
  {
    name: 'a matching AUDIT is reported and changes nothing',
    policies: [policy('au', 'AUDIT', [fromWeb])],
    expect: { allowed: true, audit: ['au'] },
  },
  {
    name: 'a non-matching AUDIT is not reported',
    policies: [policy('au', 'AUDIT', [fromApi])],
    expect: { allowed: true, audit: [] },
  },
  {
    name: 'AUDIT alone does not make ALLOW policies exist',
    policies: [policy('au', 'AUDIT', [fromApi])],
    expect: { allowed: true },
  },
  {
    name: 'AUDIT is reported on a denied request too',
    policies: [
      policy('au1', 'AUDIT', [{}]),
      policy('au2', 'AUDIT', [getOnly]),
      policy('d', 'DENY', [fromWeb]),
    ],
    expect: { allowed: false, policy: 'd', audit: ['au1', 'au2'] },
  },
];

const tcpDecisions: DecisionCase[] = [
  {
    name: 'ALLOW on methods never matches TCP',
    policies: [policy('a', 'ALLOW', [getOnly])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'ALLOW on ports matches TCP',
    policies: [policy('a', 'ALLOW', [{ to: [{ operation: { ports: ['8080'] } }] }])],
    req: request(tcp),
    expect: { allowed: true },
  },
  {
    name: 'ALLOW with a TCP field and an HTTP field never matches TCP',
    policies: [policy('a', 'ALLOW', [{ ...fromWeb, ...getOnly }])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'ALLOW on requestPrincipals never matches TCP',
    policies: [policy('a', 'ALLOW', [{ from: [{ source: { requestPrincipals: ['*'] } }] }])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'ALLOW on notPaths never matches TCP either',
    policies: [policy('a', 'ALLOW', [{ to: [{ operation: { notPaths: ['/admin'] } }] }])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'ALLOW on a request.headers condition never matches TCP',
    policies: [policy('a', 'ALLOW', [{ when: [{ key: 'request.headers[x]', notValues: ['y'] }] }])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'an ALLOW rule without HTTP fields still allows TCP next to one with them',
    policies: [policy('a', 'ALLOW', [getOnly, fromWeb])],
    req: request(tcp),
    expect: { allowed: true, reason: 'ALLOW policy a rules[1] matched' },
  },
  {
    name: 'DENY on methods denies all TCP (the field is ignored)',
    policies: [policy('d', 'DENY', [postOnly])],
    req: request(tcp),
    expect: { allowed: false, policy: 'd' },
  },
  {
    name: 'the same DENY lets an HTTP GET through',
    policies: [policy('d', 'DENY', [postOnly])],
    expect: { allowed: true },
  },
  {
    name: 'DENY keeps its TCP fields: the named peer is denied',
    policies: [policy('d', 'DENY', [{ ...fromWeb, ...postOnly }])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'DENY keeps its TCP fields: another peer is allowed',
    policies: [policy('d', 'DENY', [{ ...fromWeb, ...postOnly }])],
    req: request(tcp, peer('spiffe://cluster.local/ns/default/sa/api')),
    expect: { allowed: true },
  },
  {
    name: 'DENY on a JWT claim condition denies all TCP',
    policies: [policy('d', 'DENY', [{ when: [{ key: 'request.auth.claims[role]', values: ['guest'] }] }])],
    req: request(tcp),
    expect: { allowed: false },
  },
  {
    name: 'AUDIT on paths audits TCP',
    policies: [policy('au', 'AUDIT', [{ to: [{ operation: { paths: ['/x'] } }] }])],
    req: request(tcp),
    expect: { allowed: true, audit: ['au'] },
  },
];

for (const [title, cases] of [
  ['authorization decision', decisions],
  ['authorization of TCP connections', tcpDecisions],
] as const) {
  describe(title, () => {
    for (const c of cases) {
      it(c.name, () => {
        const decision = compileAuthorization(c.policies).check(c.req ?? request());
        for (const [k, v] of Object.entries(c.expect))
          assert.deepEqual(decision[k as keyof AuthzDecision], v, `${k}: ${decision.reason}`);
      });
    }
  });
}

describe('authorization compile errors', () => {
  const invalid: { name: string; policy: AuthzPolicy; path: string; message: RegExp }[] = [
    {
      name: 'a bad CIDR in ipBlocks',
      policy: policy('ns/p', 'ALLOW', [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }]),
      path: 'rules[0].from[0].source.ipBlocks',
      message: /bad CIDR range "10.0.0.0\/33"/,
    },
    {
      name: 'a bad address in notRemoteIpBlocks',
      policy: policy('ns/p', 'DENY', [{ from: [{ source: { notRemoteIpBlocks: ['10.0.0'] } }] }]),
      path: 'rules[0].from[0].source.notRemoteIpBlocks',
      message: /bad IP address or CIDR "10.0.0"/,
    },
    {
      name: 'a bad CIDR in a source.ip condition',
      policy: policy('ns/p', 'ALLOW', [{ when: [{ key: 'source.ip', values: ['fe80::/129'] }] }]),
      path: 'rules[0].when[0]',
      message: /bad CIDR range/,
    },
    {
      name: 'an unknown when key',
      policy: policy('ns/p', 'ALLOW', [{ when: [{ key: 'source.user', values: ['x'] }] }]),
      path: 'rules[0].when[0]',
      message: /unknown key "source.user" \(supported: request.headers\[<name>\], source.ip/,
    },
    {
      name: 'a header key without brackets',
      policy: policy('ns/p', 'ALLOW', [{ when: [{ key: 'request.headers', values: ['x'] }] }]),
      path: 'rules[0].when[0]',
      message: /should have the form request.headers\[name\]/,
    },
    {
      name: 'an Envoy metadata key',
      policy: policy('ns/p', 'ALLOW', [
        { when: [{ key: 'experimental.envoy.filters.a[b]', values: ['x'] }] },
      ]),
      path: 'rules[0].when[0]',
      message: /Envoy metadata/,
    },
    {
      name: 'a condition without values',
      policy: policy('ns/p', 'ALLOW', [{ when: [{ key: 'source.ip' }] }]),
      path: 'rules[0].when[0]',
      message: /needs values or notValues/,
    },
    {
      name: 'a port that is not a number',
      policy: policy('ns/p', 'ALLOW', [{ to: [{ operation: { ports: ['http'] } }] }]),
      path: 'rules[0].to[0].operation.ports',
      message: /bad port "http"/,
    },
    {
      name: 'a port above 65535',
      policy: policy('ns/p', 'ALLOW', [{ when: [{ key: 'destination.port', values: ['70000'] }] }]),
      path: 'rules[0].when[0]',
      message: /bad port "70000"/,
    },
    {
      name: 'an unsupported path template',
      policy: policy('ns/p', 'ALLOW', [{ to: [{ operation: { paths: ['/{id}/{*}'] } }] }]),
      path: 'rules[0].to[0].operation.paths',
      message: /unsupported path template/,
    },
    {
      name: 'a pathRegex RE2 refuses',
      policy: policy('ns/p', 'ALLOW', [{ to: [{ operation: { pathRegex: ['/(a'] } }] }]),
      path: 'rules[0].to[0].operation.pathRegex',
      message: /./,
    },
  ];
  for (const c of invalid) {
    it(`refuses ${c.name} with TRELLIS_AUTHZ_INVALID`, () => {
      assert.throws(
        () => compileAuthorization([c.policy]),
        (err: unknown) => {
          assert.ok(err instanceof AuthzConfigError);
          assert.equal(err.code, 'TRELLIS_AUTHZ_INVALID');
          assert.equal(err.problems.length, 1, err.message);
          assert.equal(err.problems[0]?.policy, 'ns/p');
          assert.equal(err.problems[0]?.path, c.path);
          assert.match(err.problems[0]?.message ?? '', c.message);
          assert.match(err.message, /ns\/p rules\[0\]/);
          return true;
        },
      );
    });
  }

  it('reports every problem of every policy at once', () => {
    const bad = (name: string): AuthzPolicy =>
      policy(name, 'ALLOW', [
        {
          when: [
            { key: 'nope', values: ['x'] },
            { key: 'source.ip', values: ['x'] },
          ],
        },
      ]);
    assert.throws(
      () => compileAuthorization([bad('a'), policy('fine', 'ALLOW', [{}]), bad('b')]),
      (err: unknown) =>
        err instanceof AuthzConfigError &&
        err.problems.map((p) => `${p.policy} ${p.path}`).join(',') ===
          'a rules[0].when[0],a rules[0].when[1],b rules[0].when[0],b rules[0].when[1]',
    );
  });

  it('marks an authorizer without policies as empty', () => {
    assert.equal(compileAuthorization([]).empty, true);
    assert.equal(compileAuthorization([policy('au', 'AUDIT', [])]).empty, false);
  });
});
