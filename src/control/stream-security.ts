// Who may open a push stream, and the certificates issued on it. A sidecar proves its service
// account with a join token (`Authorization: Bearer` on the upgrade); the control plane then
// signs CSRs on that stream for exactly one SPIFFE ID, spiffe://<td>/ns/<ns>/sa/<sa>, derived
// from the token, never from what the proxy asks for. The token is checked again on every CSR,
// so revoking it stops renewals.
import { TrellisError } from '../errors.ts';
import type { MeshView } from './mesh-view.ts';
import type { WorkloadRegistration } from './protocol.ts';
import type { MeshSecurity } from './snapshot/compiler.ts';

export interface StreamAccount {
  namespace: string;
  serviceAccount: string;
}

export interface StreamSecurity {
  readonly trustDomain: string;
  /**
   * The account a stream's bearer token proves. Rejects with a TrellisError when the token is
   * missing, unknown, revoked or expired. Without token checking, resolves undefined.
   */
  authenticate(token: string | undefined): Promise<StreamAccount | undefined>;
  /** Signs a CSR for `spiffeId`; rejects when the CSR names another identity. */
  sign(csrPem: string, spiffeId: string): Promise<{ certChainPem: string; notAfter: Date; serial: string }>;
  trustBundle(): string;
  /** Mesh mTLS and each workload's inbound policies, from the resources in view (once per push). */
  meshSecurity(view: MeshView): MeshSecurity;
  /** Called when the trust bundle changed (a root rotation): proxies must get the new one. */
  onTrustBundleChange(fn: () => void): void;
}

export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export const WrongAccountError = (account: StreamAccount, reg: WorkloadRegistration): TrellisError =>
  new TrellisError(
    'TRELLIS_TOKEN_WRONG_ACCOUNT',
    `this join token is for service account ${account.namespace}/${account.serviceAccount}; ` +
      `workload ${reg.namespace}/${reg.name} runs as ${reg.namespace}/${reg.spec.serviceAccount} — ` +
      `create a token for it: trellis token create --service-account ${reg.spec.serviceAccount} -n ${reg.namespace}`,
  );

/** Any error as the stable code and message sent to the proxy. */
export function errorCode(err: unknown): { code: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  const code =
    err instanceof TrellisError
      ? err.code
      : typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
        ? err.code
        : 'TRELLIS_INTERNAL';
  return { code, message };
}
