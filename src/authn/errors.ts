import { TrellisError } from '../errors.ts';

/** A JWT rule that cannot be used: its JWKS is not JSON, not a key set, or its file cannot be read. */
export class JwtConfigError extends TrellisError {
  readonly issuer: string;
  constructor(issuer: string, message: string, options?: { cause?: unknown }) {
    super('TRELLIS_JWT_INVALID', `JWT rule for issuer "${issuer}": ${message}`, options);
    this.issuer = issuer;
  }
}
