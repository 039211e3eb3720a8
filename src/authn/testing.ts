// Keys, tokens and a JWKS server on loopback for the JWT tests.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function testKey(kid: string, alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export function jwks(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.jwk) };
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A token signed by `key`; issuer, subject, audience and a one-hour lifetime unless `claims` say otherwise. */
export function sign(key: TestKey, claims: JWTPayload = {}): Promise<string> {
  const now = nowSeconds();
  return new SignJWT({
    iss: 'https://issuer.example.com',
    sub: 'alice',
    aud: 'api',
    iat: now,
    exp: now + 3600,
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An unsigned token (`alg: none`) with the given claims. */
export function unsignedToken(claims: JWTPayload): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
}

/** The token with its payload replaced (signature kept). */
export function withPayload(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(claims)}.${signature}`;
}

/** The token with one character in the middle of its signature changed. */
export function withBadSignature(token: string): string {
  const [header, payload, signature = ''] = token.split('.');
  const i = Math.floor(signature.length / 2);
  const c = signature[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, i)}${c}${signature.slice(i + 1)}`;
}

export interface JwksServer {
  url: string;
  /** Requests served so far. */
  fetches: number;
  /** What the next fetch answers. */
  body: unknown;
  status: number;
  /** Hold requests without answering (a JWKS endpoint that hangs). */
  hang: boolean;
  close(): Promise<void>;
}

export async function startJwksServer(body: unknown): Promise<JwksServer> {
  const state: Omit<JwksServer, 'url' | 'close'> = { fetches: 0, body, status: 200, hang: false };
  const server = createServer((req, res) => {
    state.fetches++;
    if (state.hang) return;
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
