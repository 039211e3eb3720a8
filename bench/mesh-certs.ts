// Workload certificates for the mTLS targets, issued the way the control plane issues them: a real
// CertificateAuthority (self-managed root, kept in a SQLite store under `dir`), a P-256 key and a
// CSR per SPIFFE ID, written as PEM files a static proxy config (`secrets`) or nginx can name.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '../src/identity/ca.ts';
import { createCsr, generateWorkloadKey } from '../src/identity/csr.ts';
import { openStore } from '../src/store/index.ts';

export const BENCH_TRUST_DOMAIN = 'cluster.local';

/** The SPIFFE ID of a service account in namespace `default` of the bench's trust domain. */
export const benchSpiffeId = (serviceAccount: string): string =>
  `spiffe://${BENCH_TRUST_DOMAIN}/ns/default/sa/${serviceAccount}`;

/** The two sides of every mTLS pair target: the client-side proxy's identity and the server-side one's. */
export const PAIR_IDS = { client: benchSpiffeId('bench-client'), server: benchSpiffeId('bench-server') };

export interface MeshCertFiles {
  spiffeId: string;
  /** Leaf first, then any intermediates (never the root). */
  certChainFile: string;
  privateKeyFile: string;
  /** The CA's roots: what both sides verify their peer against. */
  trustBundleFile: string;
}

/** Issues one certificate per SPIFFE ID (valid a day: longer than any bench run) into `dir`. */
export async function issueMeshCerts(dir: string, spiffeIds: readonly string[]): Promise<MeshCertFiles[]> {
  mkdirSync(dir, { recursive: true });
  const store = await openStore({ dir: join(dir, 'ca-store') });
  try {
    const ca = await CertificateAuthority.openOrCreate(store, { trustDomain: BENCH_TRUST_DOMAIN });
    const trustBundleFile = join(dir, 'trust-bundle.pem');
    writeFileSync(trustBundleFile, ca.trustBundlePem());
    const issued: MeshCertFiles[] = [];
    for (const [i, spiffeId] of spiffeIds.entries()) {
      const { keys, privateKeyPem } = await generateWorkloadKey();
      const signed = await ca.sign(await createCsr(keys, spiffeId), { spiffeId, ttlMs: 24 * 3600_000 });
      const certChainFile = join(dir, `workload-${i}.crt.pem`);
      const privateKeyFile = join(dir, `workload-${i}.key.pem`);
      writeFileSync(certChainFile, signed.certChainPem);
      writeFileSync(privateKeyFile, privateKeyPem, { mode: 0o600 });
      issued.push({ spiffeId, certChainFile, privateKeyFile, trustBundleFile });
    }
    return issued;
  } finally {
    await store.close();
  }
}

export interface PairCerts {
  client: MeshCertFiles;
  server: MeshCertFiles;
}

/** Certificates for both sides of a pair target (PAIR_IDS), in `dir`. */
export async function issuePairCerts(dir: string): Promise<PairCerts> {
  const [client, server] = await issueMeshCerts(dir, [PAIR_IDS.client, PAIR_IDS.server]);
  if (client === undefined || server === undefined) throw new Error('the bench CA issued no certificate');
  return { client, server };
}
