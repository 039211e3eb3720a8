// The public keys of a JWT rule: a JWKS given inline or in a file (read once per compile), or
// fetched from `jwksUri` by jose's remote key set (cached, refreshed, with a timeout); a token whose
// `kid` is unknown triggers a refetch at most once per cooldown, so a rotated key is picked up.
import { readFileSync } from 'node:fs';
import type { FetchImplementation, JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { JwtRule } from '../model/security.ts';
import { JwtConfigError } from './errors.ts';
import { jose } from './jose.ts';

export interface KeySetOptions {
  /** Timeout of one JWKS fetch (Istio: 5 s). */
  fetchTimeoutMs: number;
  /** How long fetched keys are used before they are fetched again (Istio: 5 min). */
  cacheMs: number;
  /** Least time between two fetches caused by an unknown `kid`. */
  refetchCooldownMs: number;
  /** Aborted when the authenticator closes: no fetch outlives it. */
  signal: AbortSignal;
}

// Only the shape jose needs to pick keys; jose checks each key when it imports it.
const Jwks = z.object({ keys: z.array(z.looseObject({ kty: z.string() })) });

function localKeySet(issuer: string, text: string, from: string): JWTVerifyGetKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new JwtConfigError(issuer, `${from} is not JSON`, { cause: err });
  }
  const parsed = Jwks.safeParse(json);
  if (!parsed.success) throw new JwtConfigError(issuer, `${from} is not a JWKS ({"keys": [...]})`);
  return jose().createLocalJWKSet(parsed.data);
}

export function keySetOf(rule: JwtRule, opts: KeySetOptions): JWTVerifyGetKey {
  if (rule.jwks !== undefined) return localKeySet(rule.issuer, rule.jwks, 'jwks');
  if (rule.jwksFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(rule.jwksFile, 'utf8');
    } catch (err) {
      throw new JwtConfigError(rule.issuer, `cannot read jwksFile ${rule.jwksFile}`, { cause: err });
    }
    return localKeySet(rule.issuer, text, `jwksFile ${rule.jwksFile}`);
  }
  if (rule.jwksUri === undefined)
    throw new JwtConfigError(rule.issuer, 'give one of jwks, jwksFile, jwksUri');
  let url: URL;
  try {
    url = new URL(rule.jwksUri);
  } catch (err) {
    throw new JwtConfigError(rule.issuer, `jwksUri ${rule.jwksUri} is not a URL`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new JwtConfigError(rule.issuer, `jwksUri ${rule.jwksUri}: only http and https are fetched`);
  const { createRemoteJWKSet, customFetch } = jose();
  const fetchWithAbort: FetchImplementation = (resource, init) =>
    fetch(resource, { ...init, signal: AbortSignal.any([init.signal, opts.signal]) });
  return createRemoteJWKSet(url, {
    timeoutDuration: opts.fetchTimeoutMs,
    cacheMaxAge: opts.cacheMs,
    cooldownDuration: opts.refetchCooldownMs,
    [customFetch]: fetchWithAbort,
  });
}
