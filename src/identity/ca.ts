// The mesh's certificate authority. Self-managed by default: a root kept in the store (every
// control-plane replica signs with the same one), rotated with an overlapping trust bundle. Or the
// user's own CA from files (Istio's "plug-in CA"): a signing cert, usually an intermediate, its key
// and the root(s). Either way the control plane decides each workload's SPIFFE ID; a CSR only
// contributes its public key.
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { StoreConflictError } from '../store/errors.ts';
import type { Store } from '../store/types.ts';
import {
  issueCertificate,
  loadSigningState,
  rootFromChain,
  splitCertFile,
  type CaMaterial,
  type CaSources,
  type SigningState,
} from './ca-material.ts';
import { parseCsr } from './csr.ts';
import {
  CaConflictError,
  CaExternalError,
  CaInvalidError,
  CertTtlInvalidError,
  CsrIdentityMismatchError,
  CsrInvalidError,
  SpiffeIdInvalidError,
} from './errors.ts';
import { createRoot } from './root.ts';
import { oneLine } from './pem.ts';
import { parseSpiffeUri, validateTrustDomain } from './spiffe.ts';

export const CA_STORE_KEY = 'identity/ca';
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
/** Shorter TTLs are raised to this: a certificate must outlive a renewal round trip. */
export const MIN_CERT_TTL_MS = 60_000;
/** Leaves are backdated this much so a peer whose clock is a little behind accepts them. */
const CLOCK_SKEW_MS = 60_000;

/** The self-managed CA as stored: roots[0] is certPem (the current root), older roots follow. */
const CaRecord = z.object({
  certPem: z.string(),
  keyPem: z.string(),
  chainPem: z.array(z.string()),
  roots: z.array(z.string()).min(1),
  createdAt: z.string(),
  rotatedAt: z.string().optional(),
});
type CaRecord = z.infer<typeof CaRecord>;

export interface CertificateAuthorityOptions {
  trustDomain: string;
  /** The signing certificate, optionally followed by its chain (PEM). Needs caKeyFile. */
  caCertFile?: string;
  caKeyFile?: string;
  /** The root(s) workloads trust; default: the last certificate of caCertFile, which must be self-signed. */
  caRootFile?: string;
  /** Lifetime of a self-managed root (default 10 years). */
  rootTtlMs?: number;
  /** The clock certificates are dated by (tests share one with the renewer). Default Date.now. */
  now?: () => number;
}

export interface SignedCertificate {
  /** The leaf, then the intermediates; never the root. */
  certChainPem: string;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex. */
  serial: string;
}

export interface CaInfo {
  trustDomain: string;
  managed: 'self' | 'files';
  roots: { subject: string; notAfter: Date; fingerprint: string }[];
  signer: { subject: string; notAfter: Date };
}

const STORE_SOURCES: CaSources = {
  cert: `store key ${CA_STORE_KEY}`,
  key: `store key ${CA_STORE_KEY}`,
  roots: `store key ${CA_STORE_KEY}`,
};

export class CertificateAuthority {
  readonly trustDomain: string;
  private readonly store: Store;
  private readonly opts: CertificateAuthorityOptions;
  private state: SigningState;
  /** The stored record (self-managed) and its mod revision; revision 0 for a CA from files. */
  private record: CaRecord | undefined;
  private revision: number;

  private constructor(
    store: Store,
    opts: CertificateAuthorityOptions,
    loaded: { state: SigningState; record?: CaRecord; revision: number },
  ) {
    this.store = store;
    this.opts = opts;
    this.trustDomain = opts.trustDomain;
    this.state = loaded.state;
    this.record = loaded.record;
    this.revision = loaded.revision;
  }

  static async openOrCreate(store: Store, opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    validateTrustDomain(opts.trustDomain);
    return new CertificateAuthority(store, opts, await load(store, opts));
  }

  /** True unless the CA comes from the user's files. */
  get selfManaged(): boolean {
    return !fromFiles(this.opts);
  }

  /**
   * Signs the CSR's key for `spiffeId`, which the CSR must request exactly (its only URI SAN). TTLs
   * under a minute are raised to one; the certificate never outlives the signing certificate.
   */
  async sign(csrPem: string, opts: { spiffeId: string; ttlMs: number }): Promise<SignedCertificate> {
    const id = parseSpiffeUri(opts.spiffeId);
    if (id === undefined) throw SpiffeIdInvalidError(opts.spiffeId, 'not a SPIFFE ID');
    if (id.trustDomain !== this.trustDomain)
      throw SpiffeIdInvalidError(opts.spiffeId, `this CA signs for trust domain ${this.trustDomain} only`);
    if (!Number.isFinite(opts.ttlMs) || opts.ttlMs <= 0) throw CertTtlInvalidError(opts.ttlMs);
    const csr = await parseCsr(csrPem);
    if (!csr.valid) throw CsrInvalidError('its signature does not verify with the key it carries');
    if (csr.uriSans.length !== 1 || csr.uriSans[0] !== opts.spiffeId)
      throw CsrIdentityMismatchError(opts.spiffeId, csr.uriSans);

    const state = this.state;
    const now = clock(this.opts);
    const ttl = Math.max(opts.ttlMs, MIN_CERT_TTL_MS);
    const leafPem = await issueCertificate(state, {
      publicKey: csr.csr.publicKey,
      subject: `O=${this.trustDomain}`,
      sans: [opts.spiffeId],
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(Math.min(now + ttl, state.signerNotAfter.getTime())),
    });
    const leaf = new X509Certificate(leafPem);
    return {
      certChainPem: leafPem + state.workloadChainPem,
      notBefore: leaf.validFromDate,
      notAfter: leaf.validToDate,
      serial: leaf.serialNumber.toLowerCase(),
    };
  }

  /** Every trusted root, PEM concatenated: what workloads verify peers against. */
  trustBundlePem(): string {
    return this.state.trustBundlePem;
  }

  info(): CaInfo {
    return {
      trustDomain: this.trustDomain,
      managed: this.selfManaged ? 'self' : 'files',
      roots: this.state.roots.map((r) => ({
        subject: oneLine(r.subject),
        notAfter: r.validToDate,
        fingerprint: r.fingerprint256,
      })),
      signer: { subject: this.state.signer.subject, notAfter: this.state.signerNotAfter },
    };
  }

  /**
   * Starts a root rotation: a new root signs from now on; the old roots stay in the trust bundle
   * so certificates they signed keep verifying. Workloads must fetch the new bundle (renew) before
   * finishRotation().
   */
  async rotateRoot(): Promise<void> {
    const record = this.selfManagedRecord('rotate the root');
    const root = await createRoot(
      this.trustDomain,
      this.opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS,
      clock(this.opts),
    );
    await this.write(
      {
        ...record,
        certPem: root.certPem,
        keyPem: root.keyPem,
        chainPem: [],
        roots: [root.certPem, ...record.roots],
        rotatedAt: new Date(clock(this.opts)).toISOString(),
      },
      'rotate the root',
    );
  }

  /** Ends a rotation: only the current root stays trusted. Call once no workload holds an old-root leaf. */
  async finishRotation(): Promise<void> {
    const record = this.selfManagedRecord('finish a root rotation');
    if (record.roots.length === 1) return;
    await this.write({ ...record, roots: [record.certPem] }, 'finish a root rotation');
  }

  /** Picks up what another replica stored (or the files' new content). */
  async reload(): Promise<void> {
    if (!this.selfManaged) {
      this.state = (await load(this.store, this.opts)).state;
      return;
    }
    const entry = await this.store.get(CA_STORE_KEY);
    if (entry !== undefined && entry.revision === this.revision) return;
    const loaded = await load(this.store, this.opts);
    this.state = loaded.state;
    this.record = loaded.record;
    this.revision = loaded.revision;
  }

  private selfManagedRecord(operation: string): CaRecord {
    if (this.record === undefined) throw CaExternalError(operation);
    return this.record;
  }

  /** Validates, then writes if nobody else wrote since we read; a lost race reloads and throws. */
  private async write(record: CaRecord, operation: string): Promise<void> {
    const state = await loadSigningState(recordMaterial(record), STORE_SOURCES, new Date(clock(this.opts)));
    let revision: number;
    try {
      revision = await this.store.put(CA_STORE_KEY, record, { ifRevision: this.revision });
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      await this.reload();
      throw CaConflictError(operation);
    }
    this.state = state;
    this.record = record;
    this.revision = revision;
  }
}

function clock(o: CertificateAuthorityOptions): number {
  return o.now?.() ?? Date.now();
}

function fromFiles(o: CertificateAuthorityOptions): boolean {
  return o.caCertFile !== undefined || o.caKeyFile !== undefined || o.caRootFile !== undefined;
}

function recordMaterial(r: CaRecord): CaMaterial {
  return { signerPem: r.certPem, keyPem: r.keyPem, intermediatesPem: r.chainPem, rootsPem: r.roots };
}

async function load(
  store: Store,
  opts: CertificateAuthorityOptions,
): Promise<{ state: SigningState; record?: CaRecord; revision: number }> {
  if (fromFiles(opts)) return { state: await loadFromFiles(opts), revision: 0 };
  // Bounded: a lost creation race means the winner's record is there on the next read.
  for (let attempt = 0; attempt < 3; attempt++) {
    const entry = await store.get(CA_STORE_KEY);
    if (entry !== undefined) {
      const parsed = CaRecord.safeParse(entry.value);
      if (!parsed.success)
        throw CaInvalidError(STORE_SOURCES.cert, `malformed record (${parsed.error.message})`);
      const state = await loadSigningState(recordMaterial(parsed.data), STORE_SOURCES, new Date(clock(opts)));
      return { state, record: parsed.data, revision: entry.revision };
    }
    const root = await createRoot(opts.trustDomain, opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS, clock(opts));
    const record: CaRecord = {
      certPem: root.certPem,
      keyPem: root.keyPem,
      chainPem: [],
      roots: [root.certPem],
      createdAt: new Date(clock(opts)).toISOString(),
    };
    const state = await loadSigningState(recordMaterial(record), STORE_SOURCES, new Date(clock(opts)));
    try {
      const revision = await store.put(CA_STORE_KEY, record, { ifRevision: 0 });
      return { state, record, revision };
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
    }
  }
  throw CaConflictError('creating the CA');
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw CaInvalidError(file, `cannot be read (${(err as Error).message})`, err);
  }
}

async function loadFromFiles(o: CertificateAuthorityOptions): Promise<SigningState> {
  if (o.caCertFile === undefined || o.caKeyFile === undefined)
    throw CaInvalidError(
      o.caCertFile ?? o.caKeyFile ?? o.caRootFile ?? 'files',
      'a CA from files needs both the certificate file and its key file',
    );
  const { signerPem, chainPem } = splitCertFile(await readText(o.caCertFile), o.caCertFile);
  const keyPem = await readText(o.caKeyFile);
  let rootsPem: string[];
  let intermediatesPem: string[];
  if (o.caRootFile !== undefined) {
    const roots = splitCertFile(await readText(o.caRootFile), o.caRootFile);
    rootsPem = [roots.signerPem, ...roots.chainPem];
    intermediatesPem = chainPem;
  } else {
    ({ rootsPem, intermediatesPem } = rootFromChain(signerPem, chainPem, o.caCertFile));
  }
  const sources = { cert: o.caCertFile, key: o.caKeyFile, roots: o.caRootFile ?? o.caCertFile };
  return loadSigningState({ signerPem, keyPem, intermediatesPem, rootsPem }, sources, new Date(clock(o)));
}
