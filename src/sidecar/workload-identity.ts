// The sidecar's certificate: its key is made here and never leaves the process; the control
// plane signs a CSR for the SPIFFE ID it named in its welcome. Snapshots carry the trust bundle;
// this module adds the certificate and key before the proxy sees them, waits for the first
// certificate when a snapshot needs one, and re-applies the config in force at each renewal
// (new connections get the new certificate; open ones keep theirs).
import type { Logger } from 'pino';
import { CertificateRenewer, type WorkloadCertificate } from '../identity/renewer.ts';
import type { ControlClient } from './control-client.ts';

export class WorkloadIdentity {
  private readonly control: ControlClient;
  private readonly log: Logger;
  private renewer: CertificateRenewer | undefined;
  private first: Promise<WorkloadCertificate> | undefined;
  private readonly updateFns: ((c: WorkloadCertificate) => void)[] = [];

  constructor(control: ControlClient, log: Logger) {
    this.control = control;
    this.log = log;
  }

  /** The trust bundle a raw snapshot carries (mesh mTLS on), else undefined. */
  static trustBundleOf(raw: unknown): string | undefined {
    if (typeof raw !== 'object' || raw === null || !('secrets' in raw)) return undefined;
    const s = raw.secrets;
    if (typeof s !== 'object' || s === null || !('trustBundle' in s)) return undefined;
    return typeof s.trustBundle === 'string' ? s.trustBundle : undefined;
  }

  /** The first certificate (requested on first need), then the current one. */
  async certificate(): Promise<WorkloadCertificate> {
    const current = this.renewer?.current();
    if (current !== undefined) return current;
    if (this.first === undefined) {
      const spiffeId = this.control.identity;
      if (spiffeId === undefined)
        throw new Error('the control plane sent a trust bundle but named no identity for this proxy');
      const renewer = new CertificateRenewer({
        spiffeId,
        request: (csr) => this.control.requestCertificate(csr),
        log: this.log,
        maxRetryMs: 5000,
      });
      renewer.onUpdate((c) => {
        for (const fn of this.updateFns) fn(c);
      });
      this.renewer = renewer;
      this.first = renewer.start();
    }
    return this.first;
  }

  /** A snapshot with this proxy's certificate and key added (its own trust bundle kept). */
  async withSecrets(raw: unknown): Promise<unknown> {
    const bundle = WorkloadIdentity.trustBundleOf(raw);
    if (bundle === undefined) return raw;
    const cert = await this.certificate();
    return {
      ...(raw as Record<string, unknown>),
      secrets: { certChain: cert.certChainPem, privateKey: cert.privateKeyPem, trustBundle: bundle },
    };
  }

  onRenewed(fn: (c: WorkloadCertificate) => void): void {
    this.updateFns.push(fn);
  }

  /** The control plane is back (or rotated its root): renew now if the certificate is due. */
  renewNow(): void {
    this.renewer?.renewNow();
  }

  current(): WorkloadCertificate | undefined {
    return this.renewer?.current();
  }

  stop(): void {
    this.renewer?.stop();
  }
}

/** Missing, or past two thirds of its life (the renewer is retrying): ask again now. */
export function renewalDue(c: WorkloadCertificate | undefined, now = Date.now()): boolean {
  if (c === undefined) return false;
  const start = c.notBefore.getTime();
  return now >= start + ((c.notAfter.getTime() - start) * 2) / 3;
}
