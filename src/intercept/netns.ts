// Network namespaces for transparent mode: the workload's own namespace, joined to a peer
// namespace (the current one by default) by a veth pair on a small /30: the peer side gets the
// first address, the workload side (`eth0`) the second and a default route through the first.
// Synchronous on purpose: it runs once at start, and cleanup must also work from an exit handler.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { TrellisError } from '../errors.ts';

/** Where /30 blocks come from when no address is given (private, rarely used by real networks). */
export const DEFAULT_NETNS_POOL = '10.213.0.0/16';
const VETH_PREFIX = 'trl';

/** `ip [-n NS] ARGS`; throws TRELLIS_NETNS_FAILED with ip's own message. */
export function ip(args: string[], netns?: string | undefined): string {
  const argv = netns === undefined ? args : ['-n', netns, ...args];
  try {
    return execFileSync('ip', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new TrellisError('TRELLIS_NETNS_FAILED', `ip ${argv.join(' ')}: ${stderr || String(err)}`, {
      cause: err,
    });
  }
}

function tryIp(args: string[], netns?: string): boolean {
  try {
    ip(args, netns);
    return true;
  } catch {
    return false;
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`) || existsSync(`/var/run/netns/${name}`);
}

/** argv that runs `argv` inside `netns`. */
export function netnsExec(netns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}

function toInt(addr: string): number {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new TrellisError('TRELLIS_NETNS_FAILED', `not an IPv4 address: "${addr}"`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function toAddr(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(value: string): { base: number; prefix: number } {
  const [addr, bits] = value.split('/');
  const prefix = Number(bits ?? '32');
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32)
    throw new TrellisError('TRELLIS_NETNS_FAILED', `not an IPv4 CIDR: "${value}"`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (toInt(addr) & mask) >>> 0, prefix };
}

function overlaps(a: { base: number; prefix: number }, b: { base: number; prefix: number }): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** IPv4 networks already configured in a namespace (to allocate around them). */
function usedNetworks(netns: string | undefined): { base: number; prefix: number }[] {
  const out = ip(['-o', '-4', 'addr', 'show'], netns);
  return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => parseCidr(m[1]!));
}

export interface WorkloadNetns {
  name: string;
  /** The workload's address (the veth end inside the namespace); undefined for an accepted one without veth. */
  address: string;
  /** The peer side's address: the namespace's default gateway, reachable from inside. */
  peerAddress: string | undefined;
  /** The veth end in the peer namespace (deleted on stop). */
  peerLink: string | undefined;
  peer: string | undefined;
  /** False when the namespace existed before (`--netns`): it is left in place on stop. */
  created: boolean;
}

export interface CreateNetnsOptions {
  name: string;
  /** The namespace at the other end of the veth; undefined: the current one. */
  peer?: string | undefined;
  /** A /30 (or larger pool) to take the veth block from. */
  pool?: string | undefined;
}

/** Creates the namespace, lo up, a veth to the peer with a free /30, and a default route. */
export function createNetns(o: CreateNetnsOptions): WorkloadNetns {
  if (netnsExists(o.name)) throw new TrellisError('TRELLIS_NETNS_FAILED', `netns ${o.name} already exists`);
  ip(['netns', 'add', o.name]);
  const ns: WorkloadNetns = {
    name: o.name,
    address: '',
    peerAddress: undefined,
    peerLink: undefined,
    peer: o.peer,
    created: true,
  };
  try {
    ip(['link', 'set', 'lo', 'up'], o.name);
    const pool = parseCidr(o.pool ?? DEFAULT_NETNS_POOL);
    if (pool.prefix > 30)
      throw new TrellisError('TRELLIS_NETNS_FAILED', `--netns-pool must be a /30 or larger`);
    const used = usedNetworks(o.peer);
    const blocks = 2 ** (30 - pool.prefix);
    const start = randomInt(blocks);
    for (let i = 0; i < Math.min(blocks, 256); i++) {
      const base = (pool.base + ((start + i) % blocks) * 4) >>> 0;
      if (used.some((u) => overlaps(u, { base, prefix: 30 }))) continue;
      // The link name encodes the block: creating it is the lock two concurrent runs contend on.
      const link = `${VETH_PREFIX}${base.toString(16).padStart(8, '0')}`;
      const inner = `${link}w`;
      if (!tryIp(['link', 'add', link, 'type', 'veth', 'peer', 'name', inner, 'netns', o.name], o.peer))
        continue;
      ns.peerLink = link;
      ns.peerAddress = toAddr(base + 1);
      ns.address = toAddr(base + 2);
      ip(['link', 'set', inner, 'name', 'eth0'], o.name);
      ip(['addr', 'add', `${ns.peerAddress}/30`, 'dev', link], o.peer);
      ip(['link', 'set', link, 'up'], o.peer);
      ip(['addr', 'add', `${ns.address}/30`, 'dev', 'eth0'], o.name);
      ip(['link', 'set', 'eth0', 'up'], o.name);
      ip(['route', 'add', 'default', 'via', ns.peerAddress], o.name);
      return ns;
    }
    throw new TrellisError('TRELLIS_NETNS_FAILED', `no free /30 left in ${o.pool ?? DEFAULT_NETNS_POOL}`);
  } catch (err) {
    deleteNetns(ns);
    throw err;
  }
}

/** An existing namespace (`--netns`): its first global IPv4 address is the workload's. */
export function acceptNetns(name: string, address?: string): WorkloadNetns {
  if (!netnsExists(name)) throw new TrellisError('TRELLIS_NETNS_FAILED', `netns ${name} does not exist`);
  let addr = address;
  if (addr === undefined) {
    const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(ip(['-o', '-4', 'addr', 'show', 'scope', 'global'], name));
    if (m === null)
      throw new TrellisError('TRELLIS_NETNS_FAILED', `netns ${name} has no IPv4 address; give --address`);
    addr = m[1]!;
  }
  return {
    name,
    address: addr,
    peerAddress: undefined,
    peerLink: undefined,
    peer: undefined,
    created: false,
  };
}

/** Deletes what createNetns made (the veth first: a lingering process keeps the namespace alive). */
export function deleteNetns(ns: WorkloadNetns): void {
  if (!ns.created) return;
  if (ns.peerLink !== undefined) tryIp(['link', 'del', ns.peerLink], ns.peer);
  tryIp(['netns', 'del', ns.name]);
}

/** Why network namespaces cannot be used here, or undefined when `ip netns add` works. */
export function netnsUnsupported(): string | undefined {
  const probe = `trellis-probe-${process.pid}-${randomInt(1e6)}`;
  try {
    ip(['netns', 'add', probe]);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  tryIp(['netns', 'del', probe]);
  return undefined;
}
