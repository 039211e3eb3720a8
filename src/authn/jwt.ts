// Request authentication with JWTs, as Istio's RequestAuthentication lowered to Envoy's jwt_authn:
// - a request without a token goes on without a request principal;
// - every token found must be valid (Envoy: a good token next to a bad one is still a 401), and a
//   token's `iss` picks its rule: an issuer no rule names, or a rule that does not look where the
//   token was found, is "Jwt issuer is not configured";
// - signature (asymmetric algorithms only: never `none`, never HMAC with a public key), `exp` and
//   `nbf` with Envoy's default 60 s clock skew, and the rule's audiences (any of them) are checked.
// Failure reasons are Envoy's (jwt_verify_lib) strings, so operators find them in Istio's docs.
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { JwtRule } from '../model/security.ts';
import { jose } from './jose.ts';
import { keySetOf } from './jwks.ts';
import { findTokens, locationKey, ruleLocations } from './token-locations.ts';
import type { FoundToken, TokenLocation } from './token-locations.ts';

export type JwtOutcome =
  /** No token found: the request continues without a request principal. */
  | { kind: 'none' }
  | {
      kind: 'valid';
      /** `iss/sub` of the (first) token. */
      principal: string;
      claims: Record<string, unknown>;
      audiences: string[];
      presenter?: string;
      /** Headers that carried a token of a rule with forwardOriginalToken: false. */
      removeHeaders: string[];
      /** Query parameters likewise. */
      removeParams: string[];
      /** Flat [name, value, …]: outputPayloadToHeader with the payload as base64url JSON. */
      addHeaders: string[];
    }
  /** The proxy answers 401 with this reason. */
  | { kind: 'invalid'; reason: string };

export interface RequestAuthenticator {
  readonly empty: boolean;
  authenticate(headers: string[], path: string): Promise<JwtOutcome>;
  /** Aborts JWKS fetches in flight; later checks of remote keys fail. */
  close(): void;
}

export interface JwtOptions {
  /** Timeout of one JWKS fetch; default 5000 (Istio's). */
  fetchTimeoutMs?: number;
  /** Lifetime of fetched keys; default 300000 (Istio's 5 min cache). */
  cacheMs?: number;
  /** Least time between refetches caused by an unknown `kid`; default 30000. */
  refetchCooldownMs?: number;
  /** Tolerated clock skew for exp and nbf, in seconds; default 60 (Envoy's clock_skew_seconds). */
  clockSkewSeconds?: number;
}

/** Envoy's status strings (jwt_verify_lib), the reasons a 401 carries. */
export const JwtFailure = {
  badFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  unknownIssuer: 'Jwt issuer is not configured',
  expired: 'Jwt is expired',
  notYetValid: 'Jwt not yet valid',
  audience: 'Audiences in Jwt are not allowed',
  verification: 'Jwt verification fails',
  noKey: "Jwks doesn't have key to match kid or alg from Jwt",
  alg: 'Jwt header [alg] is not supported',
  fetch: 'Jwks remote fetch is failed',
} as const;

const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

interface CompiledJwtRule {
  rule: JwtRule;
  keys: JWTVerifyGetKey;
  locations: Set<string>;
}

type Verified =
  { ok: true; found: FoundToken; rule: JwtRule; payload: JWTPayload } | { ok: false; reason: string };

function failureOf(err: unknown): string {
  const { errors } = jose();
  if (err instanceof errors.JWTExpired) return JwtFailure.expired;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return JwtFailure.notYetValid;
    if (err.claim === 'aud') return JwtFailure.audience;
    if (err.claim === 'iss') return JwtFailure.unknownIssuer;
    return JwtFailure.verification;
  }
  if (err instanceof errors.JWKSNoMatchingKey) return JwtFailure.noKey;
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return JwtFailure.alg;
  if (err instanceof errors.JWKSTimeout) return JwtFailure.fetch;
  if (err instanceof errors.JOSEError) {
    // A remote key set that answered badly (not 200, not a JWKS) fails the fetch, not the token.
    if (err.code === 'ERR_JOSE_GENERIC' || err.code === 'ERR_JWKS_INVALID') return JwtFailure.fetch;
    return JwtFailure.verification;
  }
  // Not jose's: the fetch itself failed (refused, reset, aborted).
  return JwtFailure.fetch;
}

class JwtAuthenticator implements RequestAuthenticator {
  readonly empty: boolean;
  private readonly byIssuer = new Map<string, CompiledJwtRule[]>();
  private readonly locations: TokenLocation[] = [];
  private readonly abort = new AbortController();
  private readonly clockTolerance: number;

  constructor(rules: readonly JwtRule[], opts: JwtOptions) {
    this.empty = rules.length === 0;
    this.clockTolerance = opts.clockSkewSeconds ?? 60;
    const seen = new Set<string>();
    for (const rule of rules) {
      const keys = keySetOf(rule, {
        fetchTimeoutMs: opts.fetchTimeoutMs ?? 5000,
        cacheMs: opts.cacheMs ?? 300_000,
        refetchCooldownMs: opts.refetchCooldownMs ?? 30_000,
        signal: this.abort.signal,
      });
      const locations = ruleLocations(rule);
      for (const l of locations) {
        const key = locationKey(l);
        if (!seen.has(key)) this.locations.push(l);
        seen.add(key);
      }
      const compiled = { rule, keys, locations: new Set(locations.map(locationKey)) };
      this.byIssuer.set(rule.issuer, [...(this.byIssuer.get(rule.issuer) ?? []), compiled]);
    }
  }

  async authenticate(headers: string[], path: string): Promise<JwtOutcome> {
    if (this.empty) return { kind: 'none' };
    const found = findTokens(this.locations, headers, path);
    if (found.length === 0) return { kind: 'none' };
    const results = await Promise.all(found.map((f) => this.verify(f)));
    const verified: Extract<Verified, { ok: true }>[] = [];
    for (const r of results) {
      if (!r.ok) return { kind: 'invalid', reason: r.reason };
      verified.push(r);
    }
    return outcomeOf(verified);
  }

  close(): void {
    this.abort.abort();
  }

  private async verify(found: FoundToken): Promise<Verified> {
    if (found.token.split('.').length !== 3) return { ok: false, reason: JwtFailure.badFormat };
    let iss: unknown;
    try {
      iss = jose().decodeJwt(found.token).iss;
    } catch {
      return { ok: false, reason: JwtFailure.verification };
    }
    const compiled =
      typeof iss === 'string' ? this.byIssuer.get(iss)?.find((c) => c.locations.has(found.key)) : undefined;
    if (compiled === undefined) return { ok: false, reason: JwtFailure.unknownIssuer };
    const { rule } = compiled;
    try {
      const { payload } = await jose().jwtVerify(found.token, compiled.keys, {
        issuer: rule.issuer,
        ...(rule.audiences !== undefined && rule.audiences.length > 0 && { audience: rule.audiences }),
        algorithms: ALGORITHMS,
        clockTolerance: this.clockTolerance,
      });
      return { ok: true, found, rule, payload };
    } catch (err) {
      return { ok: false, reason: failureOf(err) };
    }
  }
}

function outcomeOf(verified: Extract<Verified, { ok: true }>[]): JwtOutcome {
  const first = verified[0];
  if (first === undefined) return { kind: 'none' };
  const removeHeaders = new Set<string>();
  const removeParams = new Set<string>();
  const addHeaders: string[] = [];
  for (const { found, rule } of verified) {
    if (!rule.forwardOriginalToken) {
      if (found.location.kind === 'header') removeHeaders.add(found.location.name);
      else removeParams.add(found.location.name);
    }
    // The payload segment of the token is base64url(payload JSON), what Envoy forwards.
    if (rule.outputPayloadToHeader !== undefined)
      addHeaders.push(rule.outputPayloadToHeader.toLowerCase(), found.token.split('.')[1] ?? '');
  }
  const { payload } = first;
  const aud = payload.aud;
  const out: JwtOutcome = {
    kind: 'valid',
    principal: `${payload.iss ?? ''}/${payload.sub ?? ''}`,
    claims: { ...payload },
    audiences: aud === undefined ? [] : typeof aud === 'string' ? [aud] : [...aud],
    removeHeaders: [...removeHeaders],
    removeParams: [...removeParams],
    addHeaders,
  };
  if (typeof payload.azp === 'string') out.presenter = payload.azp;
  return out;
}

/** Throws JwtConfigError (TRELLIS_JWT_INVALID) for a JWKS that is not JSON or a file it cannot read. */
export function compileJwtRules(rules: JwtRule[], opts: JwtOptions = {}): RequestAuthenticator {
  return new JwtAuthenticator(rules, opts);
}
