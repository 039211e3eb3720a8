// The control plane's side of workload identity: the CA (src/identity), join tokens as the proof
// a push stream gives, and what each workload's inbound side enforces (PeerAuthentication,
// AuthorizationPolicy, RequestAuthentication, TrafficTarget, lowered in src/dialects). Replicas
// share the CA through the store; a change there (a root rotation) reaches every replica's
// proxies as a new trust bundle.
import { TrellisError } from '../errors.ts';
import { CA_STORE_KEY, CertificateAuthority } from '../identity/ca.ts';
import type { JoinTokens } from '../identity/join-tokens.ts';
import { DEFAULT_TRUST_DOMAIN } from '../identity/spiffe.ts';
import { prepareSecurity, workloadIdentity } from '../dialects/index.ts';
import type { Store } from '../store/types.ts';
import type { StreamAccount, StreamSecurity } from './stream-security.ts';

export interface IdentityOptions {
  trustDomain: string;
  /** Lifetime of workload certificates; sidecars renew at two thirds of it. */
  certTtlMs: number;
  /** A CA of the user's own (Istio's plug-in CA): signing cert (+ chain), its key, the root(s). */
  caCertFile?: string | undefined;
  caKeyFile?: string | undefined;
  caRootFile?: string | undefined;
}

export const DEFAULT_IDENTITY: IdentityOptions = {
  trustDomain: DEFAULT_TRUST_DOMAIN,
  certTtlMs: 24 * 3600 * 1000,
};

export interface MeshIdentity extends StreamSecurity {
  readonly ca: CertificateAuthority;
  close(): void;
}

export const JoinTokenRequiredError = (): TrellisError =>
  new TrellisError(
    'TRELLIS_UNAUTHENTICATED',
    'this control plane needs a join token on the push stream: create one with ' +
      '`trellis token create --service-account SA -n NS` and pass it as --join-token (or TRELLIS_JOIN_TOKEN)',
  );

export async function openStreamSecurity(
  store: Store,
  tokens: JoinTokens,
  opts: IdentityOptions & { requireToken: boolean },
): Promise<MeshIdentity> {
  const ca = await CertificateAuthority.openOrCreate(store, {
    trustDomain: opts.trustDomain,
    ...(opts.caCertFile !== undefined ? { caCertFile: opts.caCertFile } : {}),
    ...(opts.caKeyFile !== undefined ? { caKeyFile: opts.caKeyFile } : {}),
    ...(opts.caRootFile !== undefined ? { caRootFile: opts.caRootFile } : {}),
  });
  const listeners = new Set<() => void>();
  // Another replica rotated the root: reload it, and let the push server send the new bundle.
  const { revision } = await store.list(CA_STORE_KEY);
  const stopWatch = store.watch(CA_STORE_KEY, revision, () => {
    void ca.reload().then(
      () => {
        for (const fn of listeners) fn();
      },
      () => {},
    );
  });
  return {
    ca,
    trustDomain: ca.trustDomain,
    async authenticate(token: string | undefined): Promise<StreamAccount | undefined> {
      if (token === undefined) {
        if (opts.requireToken) throw JoinTokenRequiredError();
        return undefined;
      }
      const record = await tokens.verify(token);
      return { namespace: record.namespace, serviceAccount: record.serviceAccount };
    },
    async sign(csrPem, spiffeId) {
      const signed = await ca.sign(csrPem, { spiffeId, ttlMs: opts.certTtlMs });
      return { certChainPem: signed.certChainPem, notAfter: signed.notAfter, serial: signed.serial };
    },
    trustBundle: () => ca.trustBundlePem(),
    meshSecurity(view) {
      const prepared = prepareSecurity(view.dialectResources(), { trustDomain: ca.trustDomain });
      return {
        trustDomain: ca.trustDomain,
        trustBundle: ca.trustBundlePem(),
        forWorkload(w) {
          const sec = prepared.forWorkload(workloadIdentity(w));
          // destination.port in policies is the app's port, not the sidecar's inbound one.
          return { mtls: sec.mtls, inbound: { ...sec.inbound, destinationPort: w.spec.ports.app } };
        },
      };
    },
    onTrustBundleChange(fn) {
      listeners.add(fn);
    },
    close() {
      stopWatch();
      listeners.clear();
    },
  };
}
