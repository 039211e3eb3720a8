// Transparent interception on an outbound listener (`listener.interception`): iptables redirected
// the app's connection here, and its original destination (SO_ORIGINAL_DST) says what it meant.
// A listed destination (a service's virtual IP and port) is served like any outbound connection,
// except that HTTP requests without a usable authority (none, or an IP literal) are routed as the
// destination's authority, and opaque TCP goes to the destination's tcpCluster. An unlisted one is
// relayed as opaque TCP to where it was going (passthrough: allow) or closed (deny).
// Read once per accepted connection, and only on listeners that have `interception`.
import net from 'node:net';
import type { DetectedProtocol } from '../detect/detect.ts';
import { originalDestination, type OriginalDestination } from '../intercept/original-dst.ts';
import type { InterceptedDestination, ListenerInterception } from '../model/interception.ts';
import { proxyTcp } from '../tcp/tcp-proxy.ts';
import type { Dispatch } from './types.ts';

const EMPTY = Buffer.alloc(0);
const PASSTHROUGH_CONNECT_TIMEOUT_MS = 10_000;

export interface CompiledInterception {
  readonly passthrough: 'allow' | 'deny';
  /** By `address port`, addresses in canonical form. */
  readonly destinations: ReadonlyMap<string, InterceptedDestination>;
}

export type RedirectedConnection =
  | { kind: 'mesh'; destination: InterceptedDestination }
  | { kind: 'passthrough'; target: OriginalDestination }
  | { kind: 'refuse'; target: OriginalDestination };

/** IPv6 in the form inet_ntop prints (what the kernel hands back); IPv4 as is. */
function canonicalAddress(address: string): string {
  if (!net.isIPv6(address)) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

const key = (address: string, port: number): string => `${address} ${port}`;

export function compileInterception(i: ListenerInterception): CompiledInterception {
  const destinations = new Map<string, InterceptedDestination>();
  for (const d of i.destinations) destinations.set(key(canonicalAddress(d.address), d.port), d);
  return { passthrough: i.passthrough, destinations };
}

/**
 * Local ends (`address port`) of our passthrough connections. If the sidecar's own traffic were not
 * excluded from redirection (its group), a passthrough connection would come straight back to
 * this listener and be relayed again, forever; one that does is recognised here and refused.
 */
const ownPassthrough = new Set<string>();

/** What a connection on an intercepting listener is; undefined: not redirected, serve as usual. */
export function classifyConnection(
  socket: net.Socket,
  icpt: CompiledInterception,
): RedirectedConnection | undefined {
  let target: OriginalDestination | undefined;
  try {
    target = originalDestination(socket);
  } catch {
    // No addon, or a socket the kernel cannot answer for: behave as an explicit proxy.
    return undefined;
  }
  if (target === undefined) return undefined;
  const destination = icpt.destinations.get(key(target.address, target.port));
  if (destination !== undefined) return { kind: 'mesh', destination };
  const ownLoop =
    ownPassthrough.has(key(socket.remoteAddress ?? '', socket.remotePort ?? 0)) ||
    // Dialling this very listener (by another of its addresses): relaying would come back here.
    (target.port === socket.localPort &&
      (target.address === socket.localAddress || isLoopback(target.address)));
  if (icpt.passthrough === 'deny' || ownLoop) return { kind: 'refuse', target };
  return { kind: 'passthrough', target };
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

function connectTracked(target: { address: string; port: number }): net.Socket {
  const s = net.connect({ host: target.address, port: target.port, allowHalfOpen: true, noDelay: true });
  // For an IP literal net.connect issues connect(2) on a tick it queued just now: this tick runs
  // after it, once the local port is bound, and before any redirected copy can be accepted.
  process.nextTick(() => {
    if (s.localPort === undefined) return;
    const k = key(s.localAddress ?? '', s.localPort);
    ownPassthrough.add(k);
    s.once('close', () => ownPassthrough.delete(k));
  });
  return s;
}

/** Opaque relay to the original destination (Istio's PassthroughCluster). */
export function relayPassthrough(
  socket: net.Socket,
  target: OriginalDestination,
  idleTimeoutMs: number,
): void {
  proxyTcp(socket, EMPTY, target, {
    connectTimeoutMs: PASSTHROUGH_CONNECT_TIMEOUT_MS,
    idleTimeoutMs,
    connect: connectTracked,
  });
}

/**
 * What a redirected connection is served as, from what sniffing found. TLS the app originates is
 * not ours to terminate: opaque TCP, to the destination's tcpCluster. A 'tcp' verdict for a
 * destination without one (an HTTP service) is mostly a sniff that timed out with the request
 * already waiting in the socket (a process starved of CPU runs its expired timers before it reads):
 * HTTP/1 then, whose parser answers 400 to bytes that are not HTTP, instead of closing (resetting)
 * the app's connection.
 */
export function redirectedProtocol(
  detected: DetectedProtocol,
  tcpCluster: string | undefined,
): Exclude<DetectedProtocol, 'tls'> {
  if (detected === 'tls') return 'tcp';
  if (detected === 'tcp' && tcpCluster === undefined) return 'http1';
  return detected;
}

/** host[:port] whose host is an IP literal (`10.0.0.1:80`, `[fd00::1]:80`). */
export function isIpAuthority(authority: string): boolean {
  if (authority.charCodeAt(0) === 91 /* '[' */) return true;
  const colon = authority.lastIndexOf(':');
  return net.isIPv4(colon === -1 ? authority : authority.slice(0, colon));
}

/** The dispatch of one redirected connection: a request without a usable authority gets the destination's. */
export function withDestinationAuthority(authority: string, current: () => Dispatch): Dispatch {
  return (req, body, handler) => {
    if (req.authority === '' || isIpAuthority(req.authority)) req.authority = authority;
    return current()(req, body, handler);
  };
}
