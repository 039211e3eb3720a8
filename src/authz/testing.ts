// Requests and policies for the authorization tests.
import type { AuthzPolicy, AuthzRule } from '../model/security.ts';
import type { RequestAttributes } from './attributes.ts';

/** An mTLS HTTP request from default/web carrying a verified JWT. */
export function httpRequest(): RequestAttributes {
  return {
    source: { address: '10.0.0.5', port: 40000, principal: 'spiffe://cluster.local/ns/default/sa/web' },
    destination: { address: '10.0.0.9', port: 8080 },
    sni: 'api.default.svc.cluster.local',
    http: {
      method: 'GET',
      authority: 'api.default:8080',
      path: '/v1/items?limit=5',
      headers: ['x-user', 'alice', 'x-forwarded-for', '203.0.113.7, 10.0.0.1', 'x-empty', ''],
    },
    auth: {
      principal: 'https://issuer.example.com/alice',
      claims: {
        iss: 'https://issuer.example.com',
        sub: 'alice',
        aud: ['api', 'web'],
        azp: 'spa-client',
        groups: ['dev', 'ops'],
        org: { team: 'core' },
        scope: 'read write',
        admin: true,
      },
    },
  };
}

export type Patch = (r: RequestAttributes) => void;

export function request(...patches: Patch[]): RequestAttributes {
  const r = httpRequest();
  for (const p of patches) p(r);
  return r;
}

export const plaintext: Patch = (r) => {
  delete r.source.principal;
};
export const noJwt: Patch = (r) => {
  delete r.auth;
};
/** A TCP connection: no HTTP attributes, no JWT. */
export const tcp: Patch = (r) => {
  delete r.http;
  delete r.auth;
};
export const from =
  (address: string): Patch =>
  (r) => {
    r.source.address = address;
  };
export const peer =
  (principal: string): Patch =>
  (r) => {
    r.source.principal = principal;
  };
export const headers =
  (...h: string[]): Patch =>
  (r) => {
    if (r.http !== undefined) r.http.headers = h;
  };
export const http =
  (fields: Partial<NonNullable<RequestAttributes['http']>>): Patch =>
  (r) => {
    if (r.http !== undefined) Object.assign(r.http, fields);
  };

export function policy(name: string, action: AuthzPolicy['action'], rules: AuthzRule[]): AuthzPolicy {
  return { name, action, rules };
}
