// Turns CA material (signing cert, its key, intermediates, roots; from the store or from the user's
// files) into what signing needs, after checking everything that would otherwise surface as a
// broken mTLS handshake much later: parseable, a CA, key matches, valid now, chains to a root, and
// a probe leaf it signs verifies.
import {
  createPrivateKey,
  randomBytes,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { CaInvalidError } from './errors.ts';
import { chainProblem, isSelfSigned, normalizePem, oneLine, splitPemCertificates } from './pem.ts';
import { x509 } from './x509.ts';

export interface CaMaterial {
  /** The certificate that signs workload certificates. */
  signerPem: string;
  /** Its private key, any PEM form Node reads (PKCS#8, SEC1, PKCS#1). */
  keyPem: string;
  /** Certificates between the signer and a root, nearest first (roots among them are ignored). */
  intermediatesPem: string[];
  /** Trust anchors: self-signed CA certificates. */
  rootsPem: string[];
}

/** Where each part came from, for error messages: file paths, or the store key. */
export interface CaSources {
  cert: string;
  key: string;
  roots: string;
}

export interface SigningState {
  material: CaMaterial;
  signer: x509.X509Certificate;
  signerNotAfter: Date;
  signingKey: webcrypto.CryptoKey;
  signingAlgorithm: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;
  /** Key identifier for the Authority Key Identifier of issued certificates (matches the signer's SKI). */
  authorityKeyId: string | undefined;
  /** Sent to workloads after their leaf: the signer and intermediates, never a root. */
  workloadChainPem: string;
  roots: X509Certificate[];
  trustBundlePem: string;
}

function parseCert(pem: string, source: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw CaInvalidError(source, `${what} is not a PEM certificate`, err);
  }
}

/** WebCrypto parameters for the CA key; ECDSA P-256/P-384 or RSA, with a matching hash. */
function keyAlgorithm(
  key: KeyObject,
  source: string,
): (webcrypto.EcdsaParams & webcrypto.EcKeyImportParams) | webcrypto.RsaHashedImportParams {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    if (curve === 'secp384r1') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    throw CaInvalidError(source, `EC curve ${curve ?? 'unknown'} is not supported (use P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  throw CaInvalidError(
    source,
    `${key.asymmetricKeyType ?? 'unknown'} keys are not supported (use ECDSA or RSA)`,
  );
}

export async function loadSigningState(m: CaMaterial, src: CaSources, now: Date): Promise<SigningState> {
  const signerNode = parseCert(m.signerPem, src.cert, 'the signing certificate');
  const intermediates = m.intermediatesPem.map((p, i) =>
    parseCert(p, src.cert, `chain certificate #${i + 2}`),
  );
  const roots = m.rootsPem.map((p, i) => parseCert(p, src.roots, `root #${i + 1}`));
  if (roots.length === 0) throw CaInvalidError(src.roots, 'holds no root certificate');
  for (const r of roots)
    if (!r.ca || !isSelfSigned(r))
      throw CaInvalidError(
        src.roots,
        `${oneLine(r.subject)} is not a self-signed CA certificate, so not a root`,
      );
  if (!signerNode.ca)
    throw CaInvalidError(
      src.cert,
      `${oneLine(signerNode.subject)} is not a CA certificate (basicConstraints CA:TRUE)`,
    );

  let key: KeyObject;
  try {
    key = createPrivateKey(m.keyPem);
  } catch (err) {
    throw CaInvalidError(src.key, 'is not a PEM private key', err);
  }
  const alg = keyAlgorithm(key, src.key);
  // A probe signature proves the key is the signing certificate's, not merely parseable.
  const probe = randomBytes(32);
  if (!verify('sha256', probe, signerNode.publicKey, sign('sha256', probe, key)))
    throw CaInvalidError(src.key, `does not match the certificate in ${src.cert}`);

  const problem = chainProblem([signerNode, ...intermediates], roots, now);
  if (problem !== undefined) throw CaInvalidError(src.cert, problem);

  const isRoot = (c: X509Certificate): boolean =>
    isSelfSigned(c) || roots.some((r) => r.fingerprint256 === c.fingerprint256);
  const workloadChain = [signerNode, ...intermediates].filter((c) => !isRoot(c));
  const signer = new x509.X509Certificate(signerNode.raw);
  const state: SigningState = {
    material: m,
    signer,
    signerNotAfter: signerNode.validToDate,
    signingKey: await key.toCryptoKey(alg, false, ['sign']),
    signingAlgorithm: alg,
    authorityKeyId: signer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    workloadChainPem: workloadChain.map((c) => normalizePem(c.toString())).join(''),
    roots,
    trustBundlePem: roots.map((r) => normalizePem(r.toString())).join(''),
  };
  await probeIssuance(state, src, now);
  return state;
}

/** Signs a throwaway leaf and checks it chains: catches a signer without keyCertSign, path limits, etc. */
async function probeIssuance(state: SigningState, src: CaSources, now: Date): Promise<void> {
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const leaf = await issueCertificate(state, {
    publicKey: keys.publicKey,
    subject: 'CN=trellis CA self-test',
    sans: [],
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(Math.min(now.getTime() + 60_000, state.signerNotAfter.getTime())),
  });
  const chain = [leaf, ...splitPemCertificates(state.workloadChainPem)].map((p) => new X509Certificate(p));
  const problem = chainProblem(chain, state.roots, now);
  if (problem !== undefined)
    throw CaInvalidError(src.cert, `a certificate it signs does not verify: ${problem}`);
}

export interface IssueParams {
  publicKey: x509.PublicKeyType;
  subject: string;
  /** URI SANs. */
  sans: string[];
  notBefore: Date;
  notAfter: Date;
}

/** A leaf (not a CA) for mTLS both ways, signed by the state's signer; returns its PEM. */
export async function issueCertificate(state: SigningState, p: IssueParams): Promise<string> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (p.sans.length > 0)
    extensions.push(
      new x509.SubjectAlternativeNameExtension(p.sans.map((value) => ({ type: 'url', value }))),
    );
  // With several roots of one subject (rotation), the AKI is what lets OpenSSL pick the right issuer.
  if (state.authorityKeyId !== undefined)
    extensions.push(new x509.AuthorityKeyIdentifierExtension(state.authorityKeyId));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(16).toString('hex'),
    subject: p.subject,
    // The signer's Name object keeps its exact DER, which chain building compares.
    issuer: state.signer.subjectName,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: p.publicKey,
    signingKey: state.signingKey,
    signingAlgorithm: state.signingAlgorithm,
    extensions,
  });
  return normalizePem(cert.toString('pem'));
}

/** Splits a user's cert file: the first certificate signs, the rest is its chain. */
export function splitCertFile(text: string, source: string): { signerPem: string; chainPem: string[] } {
  const [signerPem, ...chainPem] = splitPemCertificates(text);
  if (signerPem === undefined) throw CaInvalidError(source, 'holds no PEM CERTIFICATE block');
  return { signerPem, chainPem };
}

/** Without a root file, the chain must end in a self-signed root. */
export function rootFromChain(
  signerPem: string,
  chainPem: string[],
  source: string,
): { rootsPem: string[]; intermediatesPem: string[] } {
  const all = [signerPem, ...chainPem];
  const lastPem = all[all.length - 1] as string;
  const last = parseCert(lastPem, source, 'the last certificate');
  if (!isSelfSigned(last))
    throw CaInvalidError(
      source,
      `the chain ends at ${oneLine(last.subject)}, which is not self-signed; append the root certificate or give the root file`,
    );
  return { rootsPem: [lastPem], intermediatesPem: chainPem.slice(0, -1) };
}
