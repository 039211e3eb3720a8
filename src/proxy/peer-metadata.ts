// The peer metadata header, Istio's x-envoy-peer-metadata in Trellis' form:
//
//   x-trellis-peer: workload=web-v1;namespace=default;version=v1
//
// The outbound side adds it to requests for mesh clusters (mtls); the inbound side reads it and
// always strips it, so the app never sees it. It names the caller in metrics labels, nothing else:
// it is never trusted over the mTLS identity (principal and namespace come from the certificate
// when there is one). See edge-metrics.ts for who reads it.
import type { EdgeParty } from '../metrics/edge-stats.ts';
import type { ClusterRuntime } from './cluster.ts';
import type { EdgeReporter } from './edge-metrics.ts';
import type { HeaderList, Layer, ProxyRequest } from './types.ts';

export const PEER_HEADER = 'x-trellis-peer';

const MAX_HEADER_LENGTH = 512;
const LABEL_VALUE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** The caller as the inbound peer layer found it, carried by the request (copies keep it). */
export const kSourcePeer = Symbol('trellis.sourcePeer');
export interface WithSourcePeer {
  [kSourcePeer]?: EdgeParty;
}

/**
 * Inbound, first of the listener layers: strips the peer metadata header (always: the app never
 * sees it) and, with metrics on, notes the caller it names on the request.
 */
export function sourcePeerLayer(edge: EdgeReporter | undefined): Layer {
  return (next) => (req, body, handler) => {
    const at = headerIndex(req.headers, PEER_HEADER);
    if (at < 0) return next(req, body, handler);
    const out: ProxyRequest & WithSourcePeer = { ...req, headers: withoutHeader(req.headers, PEER_HEADER) };
    if (edge?.enabled) out[kSourcePeer] = edge.sourceByHeader(req.source.identity, req.headers[at + 1]!);
    return next(out, body, handler);
  };
}

/**
 * Outbound attempt layer: tells a mesh peer (a cluster with mtls) who calls, replacing whatever the
 * app may have sent under that name. None without metrics.
 */
export function peerMetadataLayer(
  _route: unknown,
  cluster: ClusterRuntime,
  env: { edge?: EdgeReporter | undefined },
): Layer | undefined {
  const edge = env.edge;
  if (edge === undefined || !edge.enabled || cluster.config.mtls === undefined) return undefined;
  const value = edge.peerHeader;
  return (next) => (req, body, handler) => {
    const own =
      headerIndex(req.headers, PEER_HEADER) < 0 ? req.headers : withoutHeader(req.headers, PEER_HEADER);
    return next({ ...req, headers: [...own, PEER_HEADER, value] }, body, handler);
  };
}

export interface PeerMetadata {
  workload?: string;
  namespace?: string;
  version?: string;
}

/** `workload=…;namespace=…;version=…`; unknown keys and malformed values are ignored. */
export function parsePeerHeader(value: string): PeerMetadata {
  const out: PeerMetadata = {};
  if (value.length > MAX_HEADER_LENGTH) return out;
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (!LABEL_VALUE.test(v)) continue;
    if (key === 'workload' || key === 'namespace' || key === 'version') out[key] = v;
  }
  return out;
}

function headerIndex(headers: HeaderList, name: string): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return i;
  return -1;
}

function withoutHeader(headers: HeaderList, name: string): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== name) out.push(headers[i]!, headers[i + 1]!);
  return out;
}
