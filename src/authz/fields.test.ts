// Every field of a source, an operation and every `when` key, each in one ALLOW policy of one
// rule: the request is allowed exactly when the field matches, as Istio's Envoy RBAC would.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthzRule } from '../model/security.ts';
import type { RequestAttributes } from './attributes.ts';
import { compileAuthorization } from './engine.ts';
import { from, headers, http, noJwt, peer, plaintext, policy, request } from './testing.ts';

interface Case {
  name: string;
  rule: AuthzRule;
  req?: RequestAttributes;
  matches: boolean;
}

const src = (source: NonNullable<AuthzRule['from']>[number]['source']): AuthzRule => ({ from: [{ source }] });
const op = (operation: NonNullable<AuthzRule['to']>[number]['operation']): AuthzRule => ({
  to: [{ operation }],
});
const when = (key: string, values?: string[], notValues?: string[]): AuthzRule => ({
  when: [{ key, ...(values && { values }), ...(notValues && { notValues }) }],
});

const principals: Case[] = [
  {
    name: 'an exact principal (no spiffe://) matches the peer',
    rule: src({ principals: ['cluster.local/ns/default/sa/web'] }),
    matches: true,
  },
  {
    name: 'another principal does not match',
    rule: src({ principals: ['cluster.local/ns/default/sa/api'] }),
    matches: false,
  },
  {
    name: 'a principal written with spiffe:// never matches (Istio prepends it)',
    rule: src({ principals: ['spiffe://cluster.local/ns/default/sa/web'] }),
    matches: false,
  },
  {
    name: 'a prefix principal matches',
    rule: src({ principals: ['cluster.local/ns/default/*'] }),
    matches: true,
  },
  { name: 'a suffix principal matches', rule: src({ principals: ['*/sa/web'] }), matches: true },
  { name: 'principal * matches any mTLS peer', rule: src({ principals: ['*'] }), matches: true },
  {
    name: 'principal * never matches plaintext',
    rule: src({ principals: ['*'] }),
    req: request(plaintext),
    matches: false,
  },
  {
    name: 'an exact principal never matches plaintext',
    rule: src({ principals: ['cluster.local/ns/default/sa/web'] }),
    req: request(plaintext),
    matches: false,
  },
  {
    name: 'notPrincipals excludes the peer',
    rule: src({ notPrincipals: ['cluster.local/ns/default/*'] }),
    matches: false,
  },
  {
    name: 'notPrincipals lets another peer through',
    rule: src({ notPrincipals: ['cluster.local/ns/prod/*'] }),
    matches: true,
  },
  {
    name: 'notPrincipals holds for plaintext (Envoy: no identity is not the excluded one)',
    rule: src({ notPrincipals: ['*'] }),
    req: request(plaintext),
    matches: true,
  },
];

const requestPrincipals: Case[] = [
  {
    name: 'an exact request principal iss/sub matches',
    rule: src({ requestPrincipals: ['https://issuer.example.com/alice'] }),
    matches: true,
  },
  {
    name: 'another subject does not match',
    rule: src({ requestPrincipals: ['https://issuer.example.com/bob'] }),
    matches: false,
  },
  { name: 'request principal * matches any JWT', rule: src({ requestPrincipals: ['*'] }), matches: true },
  {
    name: 'request principal * needs a JWT',
    rule: src({ requestPrincipals: ['*'] }),
    req: request(noJwt),
    matches: false,
  },
  {
    name: 'iss/* matches any subject of the issuer',
    rule: src({ requestPrincipals: ['https://issuer.example.com/*'] }),
    matches: true,
  },
  {
    name: 'iss/* of another issuer does not match',
    rule: src({ requestPrincipals: ['https://other.example.com/*'] }),
    matches: false,
  },
  {
    name: '*/sub matches the subject from any issuer',
    rule: src({ requestPrincipals: ['*/alice'] }),
    matches: true,
  },
  {
    name: '*/sub of another subject does not match',
    rule: src({ requestPrincipals: ['*/bob'] }),
    matches: false,
  },
  {
    name: '*issuer-suffix/sub matches',
    rule: src({ requestPrincipals: ['*example.com/alice'] }),
    matches: true,
  },
  {
    name: 'notRequestPrincipals * holds without a JWT',
    rule: src({ notRequestPrincipals: ['*'] }),
    req: request(noJwt),
    matches: true,
  },
  {
    name: 'notRequestPrincipals * fails with a JWT',
    rule: src({ notRequestPrincipals: ['*'] }),
    matches: false,
  },
];

const namespaces: Case[] = [
  {
    name: 'the namespace of the peer SPIFFE ID matches',
    rule: src({ namespaces: ['default'] }),
    matches: true,
  },
  { name: 'another namespace does not match', rule: src({ namespaces: ['prod'] }), matches: false },
  { name: 'a prefix namespace matches', rule: src({ namespaces: ['def*'] }), matches: true },
  { name: 'a suffix namespace matches', rule: src({ namespaces: ['*ault'] }), matches: true },
  {
    name: 'namespace * needs mTLS',
    rule: src({ namespaces: ['*'] }),
    req: request(plaintext),
    matches: false,
  },
  { name: 'a dot in a namespace pattern is literal', rule: src({ namespaces: ['de.ault'] }), matches: false },
  {
    name: 'notNamespaces excludes the peer namespace',
    rule: src({ notNamespaces: ['default'] }),
    matches: false,
  },
  {
    name: 'notNamespaces holds for plaintext',
    rule: src({ notNamespaces: ['default'] }),
    req: request(plaintext),
    matches: true,
  },
  {
    name: 'namespaces read the ns segment, not the service account',
    rule: src({ namespaces: ['web'] }),
    req: request(peer('spiffe://td/ns/web2/sa/web')),
    matches: false,
  },
];

const ipBlocks: Case[] = [
  { name: 'an IPv4 CIDR holding the peer matches', rule: src({ ipBlocks: ['10.0.0.0/24'] }), matches: true },
  {
    name: 'an IPv4 CIDR not holding the peer does not match',
    rule: src({ ipBlocks: ['10.0.1.0/24'] }),
    matches: false,
  },
  { name: 'a single IPv4 address matches', rule: src({ ipBlocks: ['10.0.0.5'] }), matches: true },
  {
    name: 'an IPv6 CIDR holding the peer matches',
    rule: src({ ipBlocks: ['2001:db8::/32'] }),
    req: request(from('2001:db8::5')),
    matches: true,
  },
  {
    name: 'an IPv6 CIDR not holding the peer does not match',
    rule: src({ ipBlocks: ['2001:db9::/32'] }),
    req: request(from('2001:db8::5')),
    matches: false,
  },
  {
    name: 'an IPv4-mapped IPv6 peer is matched as IPv4',
    rule: src({ ipBlocks: ['10.0.0.0/8'] }),
    req: request(from('::ffff:10.0.0.5')),
    matches: true,
  },
  { name: '::/0 does not match an IPv4 peer', rule: src({ ipBlocks: ['::/0'] }), matches: false },
  { name: 'notIpBlocks excludes the peer', rule: src({ notIpBlocks: ['10.0.0.0/8'] }), matches: false },
  {
    name: 'notIpBlocks (IPv6) lets an IPv4 peer through',
    rule: src({ notIpBlocks: ['::/0'] }),
    matches: true,
  },
  {
    name: 'ipBlocks read the peer, not X-Forwarded-For',
    rule: src({ ipBlocks: ['203.0.113.0/24'] }),
    matches: false,
  },
];

const remoteIpBlocks: Case[] = [
  {
    name: 'remoteIpBlocks read the first X-Forwarded-For entry',
    rule: src({ remoteIpBlocks: ['203.0.113.0/24'] }),
    matches: true,
  },
  {
    name: 'remoteIpBlocks do not read the peer when X-Forwarded-For is set',
    rule: src({ remoteIpBlocks: ['10.0.0.0/8'] }),
    matches: false,
  },
  {
    name: 'remoteIpBlocks fall back to the peer without X-Forwarded-For',
    rule: src({ remoteIpBlocks: ['10.0.0.0/8'] }),
    req: request(headers()),
    matches: true,
  },
  {
    name: 'remoteIpBlocks take IPv6 clients',
    rule: src({ remoteIpBlocks: ['2001:db8::/64'] }),
    req: request(headers('x-forwarded-for', '2001:db8::1')),
    matches: true,
  },
  {
    name: 'notRemoteIpBlocks excludes the client',
    rule: src({ notRemoteIpBlocks: ['203.0.113.7'] }),
    matches: false,
  },
];

const hosts: Case[] = [
  {
    name: 'a host with its port matches the authority',
    rule: op({ hosts: ['api.default:8080'] }),
    matches: true,
  },
  { name: 'hosts are case-insensitive', rule: op({ hosts: ['API.Default:8080'] }), matches: true },
  {
    name: 'a host without port does not match an authority with one (Istio)',
    rule: op({ hosts: ['api.default'] }),
    matches: false,
  },
  { name: 'host:* matches the host on any port', rule: op({ hosts: ['api.default:*'] }), matches: true },
  {
    name: 'a host without port matches an authority without one',
    rule: op({ hosts: ['api.default'] }),
    req: request(http({ authority: 'api.default' })),
    matches: true,
  },
  {
    name: 'a suffix host matches',
    rule: op({ hosts: ['*.default:8080'] }),
    req: request(http({ authority: 'x.default:8080' })),
    matches: true,
  },
  { name: 'host * matches any authority', rule: op({ hosts: ['*'] }), matches: true },
  { name: 'notHosts excludes the authority', rule: op({ notHosts: ['api.*'] }), matches: false },
];

const ports: Case[] = [
  { name: 'the destination port matches', rule: op({ ports: ['8080'] }), matches: true },
  { name: 'another port does not match', rule: op({ ports: ['9090'] }), matches: false },
  { name: 'notPorts excludes the port', rule: op({ notPorts: ['8080'] }), matches: false },
];

const methods: Case[] = [
  { name: 'the method matches', rule: op({ methods: ['GET', 'HEAD'] }), matches: true },
  { name: 'methods are case-sensitive', rule: op({ methods: ['get'] }), matches: false },
  { name: 'a prefix method matches', rule: op({ methods: ['G*'] }), matches: true },
  { name: 'notMethods excludes the method', rule: op({ notMethods: ['GET'] }), matches: false },
];

const paths: Case[] = [
  {
    name: 'an exact path matches without the query string',
    rule: op({ paths: ['/v1/items'] }),
    matches: true,
  },
  {
    name: 'a path with the query string never matches',
    rule: op({ paths: ['/v1/items?limit=5'] }),
    matches: false,
  },
  { name: 'a prefix path matches', rule: op({ paths: ['/v1/*'] }), matches: true },
  { name: 'a suffix path matches', rule: op({ paths: ['*/items'] }), matches: true },
  { name: 'path * matches any path', rule: op({ paths: ['*'] }), matches: true },
  { name: 'a {*} template matches one segment', rule: op({ paths: ['/v1/{*}'] }), matches: true },
  { name: 'a {*} template does not match two segments', rule: op({ paths: ['/{*}'] }), matches: false },
  { name: 'a {**} template matches the rest', rule: op({ paths: ['/{**}'] }), matches: true },
  {
    name: 'the fragment is not part of the path',
    rule: op({ paths: ['/v1/items'] }),
    req: request(http({ path: '/v1/items#top' })),
    matches: true,
  },
  { name: 'notPaths excludes the path', rule: op({ notPaths: ['/v1/*'] }), matches: false },
  { name: 'pathRegex is an RE2 full match', rule: op({ pathRegex: ['/v1/[a-z]+'] }), matches: true },
  { name: 'pathRegex does not match a part of the path', rule: op({ pathRegex: ['/v1'] }), matches: false },
];

const conditions: Case[] = [
  { name: 'source.ip takes CIDRs', rule: when('source.ip', ['10.0.0.0/16']), matches: true },
  { name: 'source.ip notValues exclude', rule: when('source.ip', undefined, ['10.0.0.5']), matches: false },
  { name: 'remote.ip reads X-Forwarded-For', rule: when('remote.ip', ['203.0.113.7']), matches: true },
  {
    name: 'source.namespace reads the peer identity',
    rule: when('source.namespace', ['default']),
    matches: true,
  },
  {
    name: 'source.namespace needs mTLS',
    rule: when('source.namespace', ['default']),
    req: request(plaintext),
    matches: false,
  },
  {
    name: 'source.principal reads the peer identity',
    rule: when('source.principal', ['cluster.local/ns/default/sa/web']),
    matches: true,
  },
  {
    name: 'source.principal notValues exclude',
    rule: when('source.principal', undefined, ['*/sa/web']),
    matches: false,
  },
  {
    name: 'request.auth.principal reads iss/sub',
    rule: when('request.auth.principal', ['https://issuer.example.com/alice']),
    matches: true,
  },
  {
    name: 'request.auth.principal needs a JWT',
    rule: when('request.auth.principal', ['*']),
    req: request(noJwt),
    matches: false,
  },
  {
    name: 'request.auth.audiences match any audience',
    rule: when('request.auth.audiences', ['web']),
    matches: true,
  },
  {
    name: 'request.auth.audiences of another service do not match',
    rule: when('request.auth.audiences', ['billing']),
    matches: false,
  },
  {
    name: 'request.auth.presenter reads azp',
    rule: when('request.auth.presenter', ['spa-*']),
    matches: true,
  },
  {
    name: 'a list claim matches when one element matches',
    rule: when('request.auth.claims[groups]', ['ops']),
    matches: true,
  },
  {
    name: 'a list claim does not match when no element does',
    rule: when('request.auth.claims[groups]', ['admin']),
    matches: false,
  },
  {
    name: 'a nested claim is read through brackets',
    rule: when('request.auth.claims[org][team]', ['core']),
    matches: true,
  },
  {
    name: 'scope is matched as a space-separated list',
    rule: when('request.auth.claims[scope]', ['write']),
    matches: true,
  },
  {
    name: 'a boolean claim never matches a string',
    rule: when('request.auth.claims[admin]', ['true']),
    matches: false,
  },
  {
    name: 'a missing claim does not match',
    rule: when('request.auth.claims[missing]', ['*']),
    matches: false,
  },
  {
    name: 'claim notValues exclude an element',
    rule: when('request.auth.claims[groups]', undefined, ['dev']),
    matches: false,
  },
  {
    name: 'request.headers names are case-insensitive',
    rule: when('request.headers[X-User]', ['alice']),
    matches: true,
  },
  { name: 'request.headers take prefixes', rule: when('request.headers[x-user]', ['ali*']), matches: true },
  {
    name: 'request.headers * is presence (an empty value counts)',
    rule: when('request.headers[x-empty]', ['*']),
    matches: true,
  },
  {
    name: 'request.headers * fails when the header is absent',
    rule: when('request.headers[x-none]', ['*']),
    matches: false,
  },
  {
    name: 'request.headers notValues hold when the header is absent',
    rule: when('request.headers[x-none]', undefined, ['x']),
    matches: true,
  },
  { name: 'destination.ip takes CIDRs', rule: when('destination.ip', ['10.0.0.9/32']), matches: true },
  { name: 'destination.port matches the port', rule: when('destination.port', ['8080']), matches: true },
  {
    name: 'destination.port notValues exclude',
    rule: when('destination.port', undefined, ['8080']),
    matches: false,
  },
  {
    name: 'connection.sni matches the server name',
    rule: when('connection.sni', ['*.svc.cluster.local']),
    matches: true,
  },
  {
    name: 'connection.sni without SNI does not match *',
    rule: when('connection.sni', ['*']),
    req: request((r) => delete r.sni),
    matches: false,
  },
];

const composition: Case[] = [
  {
    name: 'a rule matches when any of its sources matches',
    rule: { from: [{ source: { namespaces: ['prod'] } }, { source: { namespaces: ['default'] } }] },
    matches: true,
  },
  {
    name: 'every field of a source must match',
    rule: src({ principals: ['*'], ipBlocks: ['192.168.0.0/16'] }),
    matches: false,
  },
  {
    name: 'a rule matches when any of its operations matches',
    rule: { to: [{ operation: { methods: ['POST'] } }, { operation: { paths: ['/v1/*'] } }] },
    matches: true,
  },
  {
    name: 'every field of an operation must match',
    rule: op({ methods: ['GET'], paths: ['/admin'] }),
    matches: false,
  },
  {
    name: 'every condition must hold',
    rule: {
      when: [
        { key: 'source.ip', values: ['10.0.0.5'] },
        { key: 'destination.port', values: ['1'] },
      ],
    },
    matches: false,
  },
  {
    name: 'from, to and when must all hold',
    rule: {
      ...src({ namespaces: ['default'] }),
      ...op({ methods: ['GET'] }),
      ...when('request.headers[x-user]', ['bob']),
    },
    matches: false,
  },
  { name: 'an empty source matches anything', rule: { from: [{ source: {} }] }, matches: true },
];

const tables: [string, Case[]][] = [
  ['principals', principals],
  ['requestPrincipals', requestPrincipals],
  ['namespaces', namespaces],
  ['ipBlocks', ipBlocks],
  ['remoteIpBlocks', remoteIpBlocks],
  ['hosts', hosts],
  ['ports', ports],
  ['methods', methods],
  ['paths', paths],
  ['when conditions', conditions],
  ['rule composition', composition],
];

for (const [title, cases] of tables) {
  describe(`authorization ${title}`, () => {
    for (const c of cases) {
      it(c.name, () => {
        const authz = compileAuthorization([policy('ns/p', 'ALLOW', [c.rule])]);
        const decision = authz.check(c.req ?? request());
        assert.equal(decision.allowed, c.matches, decision.reason);
        if (c.matches) assert.equal(decision.policy, 'ns/p');
      });
    }
  });
}
