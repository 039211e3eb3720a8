// Test helpers for identity: a CA on a temporary store, a workload certificate in one call, and a
// real mutual-TLS exchange on loopback that reports what each side saw of the other.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { openStore } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import { CertificateAuthority, type CertificateAuthorityOptions } from './ca.ts';
import { createCsr, generateWorkloadKey } from './csr.ts';
import { IdentityError } from './errors.ts';
import { splitPemCertificates } from './pem.ts';
import { peerSpiffeId } from './spiffe.ts';

export function tempDir(t: TestContext, prefix = 'trellis-identity-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A SQLite store in a temporary dir, closed after the test (before the dir goes). */
export async function tempStore(t: TestContext): Promise<Store> {
  const dir = tempDir(t);
  const store = await openStore({ dir });
  t.after(() => store.close());
  return store;
}

export async function openTestCa(
  t: TestContext,
  opts: Partial<CertificateAuthorityOptions> = {},
  store?: Store,
): Promise<CertificateAuthority> {
  return CertificateAuthority.openOrCreate(store ?? (await tempStore(t)), {
    trustDomain: 'cluster.local',
    ...opts,
  });
}

/** Every certificate of a PEM bundle, parsed. */
export function certs(pem: string): X509Certificate[] {
  return splitPemCertificates(pem).map((p) => new X509Certificate(p));
}

/** For assert.rejects/throws: an IdentityError with `code` (and a message matching `match`). */
export function rejectsWith(code: string, match?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof IdentityError, `expected IdentityError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (match !== undefined) assert.match(err.message, match);
    return true;
  };
}

export interface Credentials {
  certChainPem: string;
  privateKeyPem: string;
}

/** Key, CSR and signature, as a sidecar and the control plane would do them. */
export async function issueWorkload(
  ca: CertificateAuthority,
  spiffeId: string,
  ttlMs = 3_600_000,
): Promise<Credentials> {
  const { keys, privateKeyPem } = await generateWorkloadKey();
  const signed = await ca.sign(await createCsr(keys, spiffeId), { spiffeId, ttlMs });
  return { certChainPem: signed.certChainPem, privateKeyPem };
}

export interface MtlsResult {
  /** The client finished the exchange: handshake both ways, then the server's greeting read. */
  ok: boolean;
  serverSawClient: string | undefined;
  clientSawServer: string | undefined;
  error: string | undefined;
}

/**
 * A TLS server with `server`'s credentials, requiring a client certificate, and a client with
 * `client`'s; each trusts only its bundle. Hostnames are not checked: SPIFFE identities are URIs,
 * and the mesh authorizes by the peer's SPIFFE ID instead.
 */
export async function mtlsExchange(
  server: Credentials,
  client: Credentials,
  bundles: { server: string; client: string },
): Promise<MtlsResult> {
  let serverSawClient: string | undefined;
  const srv = tls.createServer(
    {
      cert: server.certChainPem,
      key: server.privateKeyPem,
      ca: bundles.server,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      serverSawClient = peerSpiffeId(socket.getPeerX509Certificate());
      socket.end('hello');
    },
  );
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise<MtlsResult>((resolve) => {
      let clientSawServer: string | undefined;
      let data = '';
      const sock = tls.connect({
        host: '127.0.0.1',
        port,
        cert: client.certChainPem,
        key: client.privateKeyPem,
        ca: bundles.client,
        checkServerIdentity: () => undefined,
      });
      const done = (error: string | undefined): void => {
        sock.destroy();
        resolve({ ok: error === undefined && data === 'hello', serverSawClient, clientSawServer, error });
      };
      sock.setTimeout(5000, () => done('timeout'));
      sock.on('secureConnect', () => {
        clientSawServer = peerSpiffeId(sock.getPeerX509Certificate());
      });
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('end', () => done(undefined));
      sock.on('error', (err) => done(err.message));
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}
