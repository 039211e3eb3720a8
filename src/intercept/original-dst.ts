// Where a connection iptables redirected to us was going: getsockopt(SO_ORIGINAL_DST) (IPv4) or
// IP6T_SO_ORIGINAL_DST (IPv6) on the accepted socket, through the Node-API addon in
// native/original-dst (built by `npm run build:native`, which `npm ci` runs through `prepare`).
import { createRequire } from 'node:module';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { TrellisError } from '../errors.ts';

export interface OriginalDestination {
  address: string;
  port: number;
}

interface OriginalDstAddon {
  /** null: no conntrack entry (ENOENT), the connection was not NATed. */
  originalDst(fd: number, family: 4 | 6): OriginalDestination | null;
}

/** The same relative path from src/intercept and from dist/intercept. */
export const ADDON_PATH = fileURLToPath(
  new URL('../../native/original-dst/build/Release/original_dst.node', import.meta.url),
);

let addon: OriginalDstAddon | undefined;
let unavailable: TrellisError | undefined;

export const OriginalDstUnavailableError = (cause?: unknown): TrellisError =>
  new TrellisError(
    'TRELLIS_ORIGINAL_DST_UNAVAILABLE',
    `the SO_ORIGINAL_DST addon is not built (${ADDON_PATH}): run npm run build:native`,
    { cause },
  );

/** Loads the addon once; throws TRELLIS_ORIGINAL_DST_UNAVAILABLE when it is not built. */
export function loadOriginalDstAddon(): OriginalDstAddon {
  if (addon !== undefined) return addon;
  if (unavailable !== undefined) throw unavailable;
  try {
    const loaded: unknown = createRequire(import.meta.url)(ADDON_PATH);
    const fn = typeof loaded === 'object' && loaded !== null ? Reflect.get(loaded, 'originalDst') : undefined;
    if (typeof fn !== 'function') throw new Error('the module has no originalDst function');
    addon = loaded as OriginalDstAddon;
    return addon;
  } catch (err) {
    unavailable = OriginalDstUnavailableError(err);
    throw unavailable;
  }
}

export function originalDstAvailable(): boolean {
  try {
    loadOriginalDstAddon();
    return true;
  } catch {
    return false;
  }
}

/** The file descriptor under a net.Socket (libuv's TCP handle); undefined for other sockets. */
function socketFd(socket: net.Socket): number | undefined {
  const handle: unknown = (socket as net.Socket & { _handle?: unknown })._handle;
  if (typeof handle !== 'object' || handle === null) return undefined;
  const fd: unknown = Reflect.get(handle, 'fd');
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`: a dual-stack socket's view of an IPv4 peer. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * The destination the client dialled before a nat REDIRECT/DNAT rewrote it, or undefined when the
 * connection was not redirected (the kernel reports the socket's own address, or has no conntrack
 * entry: ENOENT). Other getsockopt failures throw, with the errno name as `code`; a missing addon
 * throws TRELLIS_ORIGINAL_DST_UNAVAILABLE.
 */
export function originalDestination(socket: net.Socket): OriginalDestination | undefined {
  const fd = socketFd(socket);
  const local = socket.localAddress;
  if (fd === undefined || local === undefined) return undefined;
  const localV4 = unmapped(local);
  const family = net.isIPv6(localV4) ? 6 : 4;
  const dst = loadOriginalDstAddon().originalDst(fd, family);
  if (dst === null) return undefined;
  const address = unmapped(dst.address);
  if (address === localV4 && dst.port === socket.localPort) return undefined;
  return { address, port: dst.port };
}
