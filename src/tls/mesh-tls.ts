// Mesh mTLS: the workload certificate as TLS contexts. One MeshTls per config generation; a
// certificate renewal is a new config, so new connections get the new context while connections
// already open keep theirs (nothing is dropped). Both sides verify the peer's chain against the
// trust bundle; the client side also checks that the server's SPIFFE ID is one the destination
// may present, and the server side records the caller's SPIFFE ID for authorization and metrics.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { TrellisError } from '../errors.ts';
import type { ClusterMtls, WorkloadSecrets } from '../model/security.ts';

/** ALPN protocol for opaque TCP inside mesh TLS (h2 and http/1.1 name themselves). */
export const MESH_TCP_ALPN = 'trellis-tcp';
const SERVER_ALPN = ['h2', 'http/1.1', MESH_TCP_ALPN];

export class MeshTlsError extends TrellisError {}

export interface MeshTls {
  /** Our own SPIFFE ID (URI SAN of the leaf). */
  readonly spiffeId: string | undefined;
  readonly notAfter: Date;
  /** Terminates mesh TLS on an accepted socket (optionally with bytes already read). */
  accept(socket: net.Socket): tls.TLSSocket;
  /** Options for tls.connect / http2.connect to a sidecar of the given cluster. */
  clientOptions(mtls: ClusterMtls, alpn: string[]): tls.ConnectionOptions;
}

function readSecret(inline: string | undefined, file: string | undefined, what: string): string {
  if (inline !== undefined) return inline;
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new MeshTlsError(
        'TRELLIS_SECRET_UNREADABLE',
        `cannot read ${what} ${file}: ${(err as Error).message}`,
      );
    }
  }
  throw new MeshTlsError('TRELLIS_SECRET_MISSING', `mesh mTLS needs secrets.${what} (or ${what}File)`);
}

/** The first spiffe:// URI SAN of a certificate, as Node prints SANs ("URI:spiffe://…, DNS:…"). */
export function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  if (subjectAltName === undefined) return undefined;
  for (const part of subjectAltName.split(', ')) {
    if (part.startsWith('URI:spiffe://')) return part.slice(4);
  }
  return undefined;
}

/** Why a verified server certificate is still the wrong one; undefined when it is acceptable. */
export function checkMeshIdentity(expected: readonly string[], san: string | undefined): Error | undefined {
  const id = spiffeIdOf(san);
  if (id === undefined)
    return new MeshTlsError('TRELLIS_PEER_NO_IDENTITY', 'the server certificate has no SPIFFE ID');
  if (expected.length > 0 && !expected.includes(id))
    return new MeshTlsError(
      'TRELLIS_PEER_IDENTITY_MISMATCH',
      `the server presented ${id}; this destination may only be ${expected.join(' or ')}`,
    );
  return undefined;
}

export function loadMeshTls(secrets: WorkloadSecrets): MeshTls {
  const cert = readSecret(secrets.certChain, secrets.certChainFile, 'certChain');
  const key = readSecret(secrets.privateKey, secrets.privateKeyFile, 'privateKey');
  const ca = readSecret(secrets.trustBundle, secrets.trustBundleFile, 'trustBundle');
  let leaf: X509Certificate;
  let context: tls.SecureContext;
  try {
    leaf = new X509Certificate(cert);
    context = tls.createSecureContext({ cert, key, ca, minVersion: 'TLSv1.3' });
  } catch (err) {
    throw new MeshTlsError(
      'TRELLIS_SECRET_INVALID',
      `the workload certificate or key is not usable: ${(err as Error).message}`,
    );
  }
  const spiffeId = spiffeIdOf(leaf.subjectAltName);
  const notAfter = new Date(leaf.validTo);
  return {
    spiffeId,
    notAfter,
    accept(socket) {
      return new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: context,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: SERVER_ALPN,
      });
    },
    clientOptions(mtls, alpn) {
      return {
        secureContext: context,
        minVersion: 'TLSv1.3',
        rejectUnauthorized: true,
        ALPNProtocols: alpn,
        // The SNI names the destination for logs; identity comes from the SPIFFE ID below.
        servername: mtls.serverName ?? 'trellis.mesh',
        checkServerIdentity: (_host, peer) => checkMeshIdentity(mtls.identities, peer.subjectaltname),
      };
    },
  };
}

/**
 * Did the client's chain verify against the trust bundle (not expired, not another CA)? A
 * hand-built server TLSSocket completes the handshake whatever the result: Node's tls.Server is
 * what refuses, reading OpenSSL's verdict from the handle as done here. Fails closed: should the
 * handle not offer it, every peer is refused (and the mTLS tests say so).
 */
export function peerVerified(socket: tls.TLSSocket): boolean {
  const handle = (socket as unknown as { ssl?: { verifyError?: () => unknown } }).ssl;
  if (typeof handle?.verifyError !== 'function') return false;
  return !handle.verifyError() && socket.getPeerX509Certificate() !== undefined;
}

/** Reads the verified peer's SPIFFE ID off a server-side TLS socket. */
export function readPeerIdentity(socket: tls.TLSSocket): string | undefined {
  return spiffeIdOf(socket.getPeerX509Certificate()?.subjectAltName);
}
