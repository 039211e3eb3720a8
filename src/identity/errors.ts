// Errors of workload identity (CA, CSRs, join tokens, certificate renewal), each with a stable code
// and a message that says what to do about it.
import { TrellisError } from '../errors.ts';

export class IdentityError extends TrellisError {}

/** The CA material (a file the user gave, or the store's record) cannot be used to sign. */
export const CaInvalidError = (source: string, detail: string, cause?: unknown): IdentityError =>
  new IdentityError(
    'TRELLIS_CA_INVALID',
    `CA ${source}: ${detail}; fix or replace it (the signing certificate must be a CA whose key is given, valid now, chaining to a root)`,
    { cause },
  );

/** rotateRoot/finishRotation on a CA the user supplies in files: the user rotates it. */
export const CaExternalError = (operation: string): IdentityError =>
  new IdentityError(
    'TRELLIS_CA_EXTERNAL',
    `cannot ${operation}: the CA comes from files; replace the files (old and new roots in the root file) and reload`,
  );

/** The stored CA changed under a rotation (another replica rotated at the same time). */
export const CaConflictError = (operation: string): IdentityError =>
  new IdentityError(
    'TRELLIS_CA_CONFLICT',
    `${operation} lost a race: another control plane changed the CA meanwhile; check the CA info and run it again if still needed`,
  );

export const CsrInvalidError = (detail: string, cause?: unknown): IdentityError =>
  new IdentityError(
    'TRELLIS_CSR_INVALID',
    `certificate signing request refused: ${detail}; send a PEM PKCS#10 request signed by its key`,
    { cause },
  );

/** The CSR asks for another identity than the one the control plane assigned to the caller. */
export const CsrIdentityMismatchError = (expected: string, requested: readonly string[]): IdentityError =>
  new IdentityError(
    'TRELLIS_CSR_IDENTITY_MISMATCH',
    `certificate signing request names ${requested.length === 0 ? 'no URI SAN' : requested.join(', ')} but this workload is ${expected}; request exactly that SPIFFE ID`,
  );

export const SpiffeIdInvalidError = (value: string, detail: string): IdentityError =>
  new IdentityError(
    'TRELLIS_SPIFFE_ID_INVALID',
    `invalid SPIFFE ID ${JSON.stringify(value)}: ${detail} (expected spiffe://<trust domain>/ns/<namespace>/sa/<service account>)`,
  );

export const TrustDomainInvalidError = (value: string): IdentityError =>
  new IdentityError(
    'TRELLIS_TRUST_DOMAIN_INVALID',
    `invalid trust domain ${JSON.stringify(value)}: use lower-case letters, digits, '.', '-' and '_' (e.g. cluster.local)`,
  );

export const CertTtlInvalidError = (ttlMs: number): IdentityError =>
  new IdentityError('TRELLIS_CERT_TTL_INVALID', `certificate TTL ${ttlMs} ms is not a positive number of ms`);

/** What the control plane answered a renewal with cannot be used (wrong identity, key or chain). */
export const IssuedCertInvalidError = (detail: string, cause?: unknown): IdentityError =>
  new IdentityError(
    'TRELLIS_ISSUED_CERT_INVALID',
    `the certificate issued for this workload is unusable: ${detail}; check the control plane's CA`,
    { cause },
  );

export const RenewerStoppedError = (): IdentityError =>
  new IdentityError(
    'TRELLIS_RENEWER_STOPPED',
    'certificate renewal was stopped before a certificate was issued',
  );

export const TokenInvalidError = (detail: string): IdentityError =>
  new IdentityError(
    'TRELLIS_TOKEN_INVALID',
    `join token refused: ${detail}; create one with \`trellis token create\` and pass it whole`,
  );

export const TokenRevokedError = (id: string): IdentityError =>
  new IdentityError('TRELLIS_TOKEN_REVOKED', `join token ${id} was revoked; create a new one`);

export const TokenExpiredError = (id: string, expiresAt: string): IdentityError =>
  new IdentityError('TRELLIS_TOKEN_EXPIRED', `join token ${id} expired at ${expiresAt}; create a new one`);

export const JoinTokenRequestInvalidError = (detail: string): IdentityError =>
  new IdentityError('TRELLIS_TOKEN_REQUEST_INVALID', `cannot create join token: ${detail}`);
