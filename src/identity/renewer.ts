// The sidecar keeps its workload certificate fresh: a new key and CSR at 2/3 of each certificate's
// lifetime (jittered, so a fleet issued together does not renew together). When the control plane
// is away it keeps the certificate it has (static stability) and retries with bounded exponential
// backoff, warning as the end nears and again once it has passed.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createLogger } from '../log.ts';
import { createCsr, generateWorkloadKey } from './csr-request.ts';
import { IssuedCertInvalidError, RenewerStoppedError } from './errors.ts';
import { chainProblem, normalizePem, splitPemCertificates } from './pem.ts';
import { peerSpiffeId } from './spiffe.ts';

export interface WorkloadCertificate {
  /** Leaf then intermediates: node:tls `cert`. */
  certChainPem: string;
  /** PKCS#8: node:tls `key`. */
  privateKeyPem: string;
  /** Roots to verify peers with: node:tls `ca`. */
  trustBundlePem: string;
  notBefore: Date;
  notAfter: Date;
  spiffeId: string;
  /** Lower-case hex. */
  serial: string;
}

export interface RenewerLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface CertificateRenewerOptions {
  spiffeId: string;
  /** Sends the CSR to the control plane; resolves with what it issued. */
  request: (csrPem: string) => Promise<{ certChainPem: string; trustBundlePem: string }>;
  log?: RenewerLog;
  /** The clock lifetimes are judged by (tests). Timers are real; tests mock them. */
  now?: () => number;
  /** First retry delay after a failure (default 1 s), doubling up to maxRetryMs (default 30 s). */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** A request that has not answered by then counts as failed (default 30 s). */
  requestTimeoutMs?: number;
}

/** Renewal starts at this fraction of a certificate's lifetime, ±RENEW_JITTER of it. */
export const RENEW_AT_FRACTION = 2 / 3;
export const RENEW_JITTER = 0.05;
/** Below this fraction of lifetime left, a failing renewal is worth a warning. */
const LOW_FRACTION = 1 / 6;

export class CertificateRenewer {
  private readonly o: Required<Omit<CertificateRenewerOptions, 'log'>> & { log: RenewerLog | undefined };
  private cert: WorkloadCertificate | undefined;
  private readonly listeners: ((c: WorkloadCertificate) => void)[] = [];
  /** The one timer: the next attempt, or the timeout of the attempt in flight. */
  private timer: NodeJS.Timeout | undefined;
  private nextAt: number | undefined;
  /** Bumped per attempt and on stop, so a late answer to an abandoned attempt is ignored. */
  private generation = 0;
  private inFlight = false;
  private stopped = false;
  private failures = 0;
  private warned: 'none' | 'low' | 'expired' = 'none';
  private first:
    | {
        promise: Promise<WorkloadCertificate>;
        resolve: (c: WorkloadCertificate) => void;
        reject: (e: Error) => void;
      }
    | undefined;

  constructor(opts: CertificateRenewerOptions) {
    this.o = {
      spiffeId: opts.spiffeId,
      request: opts.request,
      log: opts.log,
      now: opts.now ?? Date.now,
      minRetryMs: opts.minRetryMs ?? 1000,
      maxRetryMs: opts.maxRetryMs ?? 30_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
    };
  }

  /** Resolves with the first certificate; until then retries with backoff. Rejects only on stop(). */
  start(): Promise<WorkloadCertificate> {
    if (this.first === undefined) {
      let resolve!: (c: WorkloadCertificate) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<WorkloadCertificate>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // Marked handled: stop() before a certificate must not crash a caller that stopped waiting.
      promise.catch(() => {});
      this.first = { promise, resolve, reject };
      if (this.stopped) reject(RenewerStoppedError());
      else this.attempt();
    }
    return this.first.promise;
  }

  current(): WorkloadCertificate | undefined {
    return this.cert;
  }

  /** When the next attempt is due (undefined while one is in flight or after stop()). */
  nextAttemptAt(): Date | undefined {
    return this.nextAt === undefined ? undefined : new Date(this.nextAt);
  }

  onUpdate(fn: (c: WorkloadCertificate) => void): void {
    this.listeners.push(fn);
  }

  /** Renews at once (e.g. the control plane is back, or the trust bundle changed); no-op if in flight. */
  renewNow(): void {
    if (this.stopped || this.first === undefined || this.inFlight) return;
    this.attempt();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.inFlight = false;
    this.setTimer(undefined);
    this.first?.reject(RenewerStoppedError());
  }

  private log(): RenewerLog {
    return (this.o.log ??= createLogger('identity'));
  }

  private setTimer(delayMs: number | undefined, fn?: () => void): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
    if (delayMs === undefined || fn === undefined) return;
    this.timer = setTimeout(fn, Math.max(0, delayMs));
    this.timer.unref();
  }

  private schedule(delayMs: number): void {
    // Whole ms: nextAttemptAt() - now is then exactly the timer's delay.
    const ms = Math.max(0, Math.ceil(delayMs));
    this.setTimer(ms, () => this.attempt());
    this.nextAt = this.o.now() + ms;
  }

  private attempt(): void {
    if (this.stopped || this.inFlight) return;
    const gen = ++this.generation;
    this.inFlight = true;
    this.setTimer(this.o.requestTimeoutMs, () =>
      this.settle(gen, undefined, new Error(`no answer within ${this.o.requestTimeoutMs} ms`)),
    );
    this.issue().then(
      (cert) => this.settle(gen, cert, undefined),
      (err: unknown) => this.settle(gen, undefined, err instanceof Error ? err : new Error(String(err))),
    );
  }

  private settle(gen: number, cert: WorkloadCertificate | undefined, err: Error | undefined): void {
    if (gen !== this.generation || !this.inFlight || this.stopped) return;
    this.inFlight = false;
    this.setTimer(undefined);
    if (cert !== undefined) this.succeeded(cert);
    else this.failed(err ?? new Error('unknown failure'));
  }

  private succeeded(cert: WorkloadCertificate): void {
    this.failures = 0;
    this.warned = 'none';
    this.cert = cert;
    const life = cert.notAfter.getTime() - cert.notBefore.getTime();
    const jitter = 1 + (Math.random() * 2 - 1) * RENEW_JITTER;
    const renewAt = cert.notBefore.getTime() + life * RENEW_AT_FRACTION * jitter;
    this.schedule(renewAt - this.o.now());
    this.log().info(
      `certificate for ${cert.spiffeId} issued (serial ${cert.serial}), valid until ${cert.notAfter.toISOString()}; renewing at ${new Date(renewAt).toISOString()}`,
    );
    this.first?.resolve(cert);
    for (const fn of this.listeners) {
      try {
        fn(cert);
      } catch (err) {
        this.log().warn(`certificate update listener failed: ${(err as Error).message}`);
      }
    }
  }

  private failed(err: Error): void {
    this.failures++;
    const base = Math.min(this.o.maxRetryMs, this.o.minRetryMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.schedule(delay);
    const what = this.cert === undefined ? 'certificate' : 'certificate renewal';
    this.log().warn(`${what} for ${this.o.spiffeId} failed (${err.message}); retrying in ${delay} ms`);
    const cert = this.cert;
    if (cert === undefined) return;
    const left = cert.notAfter.getTime() - this.o.now();
    const life = cert.notAfter.getTime() - cert.notBefore.getTime();
    if (left <= 0 && this.warned !== 'expired') {
      this.warned = 'expired';
      this.log().warn(
        `certificate for ${cert.spiffeId} expired at ${cert.notAfter.toISOString()}: peers will refuse mTLS until renewal succeeds (still trying)`,
      );
    } else if (left > 0 && left < life * LOW_FRACTION && this.warned === 'none') {
      this.warned = 'low';
      this.log().warn(
        `certificate for ${cert.spiffeId} expires at ${cert.notAfter.toISOString()} (${Math.round(left / 1000)} s left) and cannot be renewed; is the control plane reachable?`,
      );
    }
  }

  private async issue(): Promise<WorkloadCertificate> {
    const key = await generateWorkloadKey();
    const res = await this.o.request(await createCsr(key.keys, this.o.spiffeId));
    return checkIssued(res, key.privateKeyPem, this.o.spiffeId, this.o.now());
  }
}

/** Refuses what would fail later in every handshake: another identity, another key, a broken chain. */
function checkIssued(
  res: { certChainPem: string; trustBundlePem: string },
  privateKeyPem: string,
  spiffeId: string,
  now: number,
): WorkloadCertificate {
  let chain: X509Certificate[];
  let roots: X509Certificate[];
  try {
    chain = splitPemCertificates(res.certChainPem).map((p) => new X509Certificate(p));
    roots = splitPemCertificates(res.trustBundlePem).map((p) => new X509Certificate(p));
  } catch (err) {
    throw IssuedCertInvalidError('not PEM certificates', err);
  }
  const leaf = chain[0];
  if (leaf === undefined) throw IssuedCertInvalidError('the chain holds no certificate');
  if (roots.length === 0) throw IssuedCertInvalidError('the trust bundle holds no certificate');
  const got = peerSpiffeId(leaf);
  if (got !== spiffeId) throw IssuedCertInvalidError(`it names ${got ?? 'no SPIFFE ID'}, not ${spiffeId}`);
  if (!leaf.checkPrivateKey(createPrivateKey(privateKeyPem)))
    throw IssuedCertInvalidError('it is not for the key this workload generated');
  // Signatures and links only: validity is judged below against the leaf, so clock skew with the CA
  // (which backdates a minute) does not refuse a fresh certificate.
  const problem = chainProblem(chain, roots, leaf.validFromDate);
  if (problem !== undefined) throw IssuedCertInvalidError(problem);
  if (leaf.validToDate.getTime() <= now)
    throw IssuedCertInvalidError(
      `it expired at ${leaf.validTo}; check the clocks of this host and the control plane`,
    );
  return {
    certChainPem: chain.map((c) => normalizePem(c.toString())).join(''),
    privateKeyPem,
    trustBundlePem: roots.map((c) => normalizePem(c.toString())).join(''),
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
    spiffeId,
    serial: leaf.serialNumber.toLowerCase(),
  };
}
