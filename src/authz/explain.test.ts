// `authz explain`: the decision, which policies and rules matched, and for each rule that did not,
// the fields that failed with the value the request carried.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainAuthorization } from './explain.ts';
import { noJwt, plaintext, policy, request, tcp } from './testing.ts';

describe('authorization explain', () => {
  it('names the mismatching field, the value and the patterns', () => {
    const x = explainAuthorization(
      [
        policy('ns/allow-api', 'ALLOW', [
          { from: [{ source: { principals: ['cluster.local/ns/default/sa/api'] } }] },
        ]),
      ],
      request(),
    );
    assert.equal(x.decision.allowed, false);
    assert.deepEqual(x.policies, [
      {
        name: 'ns/allow-api',
        action: 'ALLOW',
        matched: false,
        rules: [
          {
            index: 0,
            matched: false,
            mismatches: [
              'from[0].source.principals: cluster.local/ns/default/sa/web not in [cluster.local/ns/default/sa/api]',
            ],
          },
        ],
      },
    ]);
  });

  it('says which rule of which policy decided', () => {
    const x = explainAuthorization(
      [
        policy('ns/deny-post', 'DENY', [{ to: [{ operation: { methods: ['POST'] } }] }]),
        policy('ns/allow', 'ALLOW', [
          { to: [{ operation: { paths: ['/admin'] } }] },
          { to: [{ operation: { paths: ['/v1/*'] } }] },
        ]),
      ],
      request(),
    );
    assert.deepEqual(x.decision, {
      allowed: true,
      policy: 'ns/allow',
      reason: 'ALLOW policy ns/allow rules[1] matched',
      audit: [],
    });
    assert.deepEqual(
      x.policies.map((p) => [p.name, p.matched, p.rules.map((r) => r.matched)]),
      [
        ['ns/deny-post', false, [false]],
        ['ns/allow', true, [false, true]],
      ],
    );
    assert.deepEqual(x.policies[0]?.rules[0]?.mismatches, ['to[0].operation.methods: GET not in [POST]']);
    assert.deepEqual(x.policies[1]?.rules[0]?.mismatches, [
      'to[0].operation.paths: /v1/items not in [/admin]',
    ]);
  });

  it('explains not-forms, absent identities and when conditions', () => {
    const x = explainAuthorization(
      [
        policy('p', 'ALLOW', [
          {
            from: [{ source: { namespaces: ['default'], requestPrincipals: ['*'] } }],
            to: [{ operation: { notPaths: ['/v1/*'] } }],
            when: [
              { key: 'request.headers[x-user]', values: ['bob'] },
              { key: 'source.ip', notValues: ['10.0.0.0/8'] },
              { key: 'destination.port', values: ['8080'] },
            ],
          },
        ]),
      ],
      request(plaintext, noJwt),
    );
    assert.deepEqual(x.policies[0]?.rules[0]?.mismatches, [
      'from[0].source.requestPrincipals: (no request principal: no valid JWT) not in [*]',
      'from[0].source.namespaces: (no peer identity: plaintext) not in [default]',
      'to[0].operation.notPaths: /v1/items matches excluded [/v1/*]',
      'when[0] request.headers[x-user]: alice not in [bob]',
      'when[1] source.ip (notValues): 10.0.0.5 matches excluded [10.0.0.0/8]',
    ]);
  });

  it('lists the failing fields of every source when none matches', () => {
    const x = explainAuthorization(
      [
        policy('p', 'ALLOW', [
          { from: [{ source: { namespaces: ['prod'] } }, { source: { ipBlocks: ['192.168.0.0/16'] } }] },
        ]),
      ],
      request(),
    );
    assert.deepEqual(x.policies[0]?.rules[0]?.mismatches, [
      'from[0].source.namespaces: namespace default not in [prod]',
      'from[1].source.ipBlocks: 10.0.0.5 not in [192.168.0.0/16]',
    ]);
  });

  it('hints that a host is matched with its port', () => {
    const x = explainAuthorization(
      [policy('p', 'ALLOW', [{ to: [{ operation: { hosts: ['api.default'] } }] }])],
      request(),
    );
    assert.deepEqual(x.policies[0]?.rules[0]?.mismatches, [
      'to[0].operation.hosts: api.default:8080 not in [api.default] (hosts match the authority with its port, as Istio: add "api.default:*")',
    ]);
  });

  it('says an ALLOW rule with HTTP-only fields never matches TCP', () => {
    const x = explainAuthorization(
      [
        policy('p', 'ALLOW', [
          {
            to: [{ operation: { ports: ['8080'], methods: ['GET'] } }],
            when: [{ key: 'request.auth.claims[a]', values: ['b'] }],
          },
        ]),
      ],
      request(tcp),
    );
    assert.equal(x.decision.allowed, false);
    assert.deepEqual(x.policies[0]?.rules[0], {
      index: 0,
      matched: false,
      mismatches: [
        'to[0].operation.methods: HTTP-only; an ALLOW rule using it never matches a TCP connection',
        'when[0] request.auth.claims[a]: HTTP-only; an ALLOW rule using it never matches a TCP connection',
      ],
    });
  });

  it('lists the HTTP-only fields a DENY rule ignores for TCP', () => {
    const x = explainAuthorization(
      [policy('d', 'DENY', [{ to: [{ operation: { methods: ['POST'], ports: ['8080'] } }] }])],
      request(tcp),
    );
    assert.equal(x.decision.allowed, false);
    assert.deepEqual(x.policies[0]?.rules[0], {
      index: 0,
      matched: true,
      mismatches: [],
      ignored: ['to[0].operation.methods: HTTP-only, ignored for TCP in a DENY rule'],
    });
  });

  it('notes that a policy without rules matches nothing', () => {
    const x = explainAuthorization([policy('none', 'ALLOW', []), policy('au', 'AUDIT', [{}])], request());
    assert.deepEqual(x.decision, { allowed: false, reason: 'no ALLOW policy matched', audit: ['au'] });
    assert.deepEqual(x.policies[0], {
      name: 'none',
      action: 'ALLOW',
      matched: false,
      rules: [],
      note: 'no rules: matches nothing (allow-nothing)',
    });
    assert.equal(x.policies[1]?.matched, true);
  });
});
