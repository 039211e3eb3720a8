// A small network on this machine for the multi-host test: a "switch" namespace holding a Linux
// bridge, and "host" namespaces each joined to it by a veth (`uplink` in the host, `pN` in the
// switch) with an address on 10.231.0.0/24. Host N's workload namespaces (made by `trellis run
// --transparent` behind it) take their /30s from 10.232.N.0/24, and every host routes the other
// hosts' workload ranges through their uplink address. Nothing is configured in the root namespace:
// `ip netns` is all that touches it.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ip } from '../../src/intercept/netns.ts';

/** Every namespace this suite makes starts with this (stale ones from a crashed run are removed). */
export const NETNS_PREFIX = 'trellis-mh-';
export const HOST_NETWORK = '10.231.0';
/** Host N's workload namespaces are in 10.232.N.0/24 (the run command's --netns-pool). */
export const WORKLOAD_NETWORK = '10.232';

export interface Host {
  index: number;
  netns: string;
  /** The host's address on the switch (its `uplink`). */
  address: string;
  /** The host's port on the bridge, in the switch namespace. */
  switchPort: string;
  /** Where `trellis run --transparent` on this host takes its veth /30s. */
  workloadPool: string;
}

export interface Topology {
  switchNetns: string;
  hosts: Host[];
}

function sysctl(netns: string, key: string, value: string): void {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `${key}=${value}`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`sysctl ${key}=${value} in ${netns}: ${r.stderr}`);
}

/** Makes the switch and `count` hosts named `${NETNS_PREFIX}${tag}-…`; destroyTopology undoes it. */
export function createTopology(tag: string, count: number): Topology {
  const switchNetns = `${NETNS_PREFIX}${tag}-sw`;
  const topo: Topology = { switchNetns, hosts: [] };
  try {
    ip(['netns', 'add', switchNetns]);
    ip(['link', 'set', 'lo', 'up'], switchNetns);
    ip(['link', 'add', 'br0', 'type', 'bridge'], switchNetns);
    ip(['link', 'set', 'br0', 'up'], switchNetns);
    for (let i = 0; i < count; i++) {
      const host: Host = {
        index: i,
        netns: `${NETNS_PREFIX}${tag}-h${i}`,
        address: `${HOST_NETWORK}.${i + 1}`,
        switchPort: `p${i}`,
        workloadPool: `${WORKLOAD_NETWORK}.${i}.0/24`,
      };
      ip(['netns', 'add', host.netns]);
      topo.hosts.push(host);
      ip(['link', 'set', 'lo', 'up'], host.netns);
      ip(
        ['link', 'add', host.switchPort, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', host.netns],
        switchNetns,
      );
      ip(['link', 'set', host.switchPort, 'master', 'br0'], switchNetns);
      ip(['link', 'set', host.switchPort, 'up'], switchNetns);
      ip(['addr', 'add', `${host.address}/24`, 'dev', 'uplink'], host.netns);
      ip(['link', 'set', 'uplink', 'up'], host.netns);
      // Workload namespaces behind this host reach the others through it (the host's own setting).
      sysctl(host.netns, 'net.ipv4.ip_forward', '1');
    }
    for (const h of topo.hosts)
      for (const other of topo.hosts)
        if (other !== h) ip(['route', 'add', other.workloadPool, 'via', other.address], h.netns);
    return topo;
  } catch (err) {
    destroyTopology(topo);
    throw err;
  }
}

/** Deletes the hosts (their veths go with them), then the switch and its bridge. */
export function destroyTopology(topo: Topology): void {
  for (const h of [...topo.hosts].reverse()) deleteNetns(h.netns);
  spawnSync('ip', ['-n', topo.switchNetns, 'link', 'del', 'br0'], { stdio: 'ignore' });
  deleteNetns(topo.switchNetns);
}

function deleteNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  // `ip netns exec` would have bind-mounted these; this suite makes none, but a crashed run's
  // workload namespaces (`trellis run` makes them) leave theirs.
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
}

function netnsNames(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

function killAllIn(netns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' });
  for (const pid of r.stdout.split('\n').map(Number))
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
}

/** A namespace `trellis run --transparent` made behind one of this suite's hosts (its address tells). */
function isWorkloadBehindOurs(name: string): boolean {
  if (!/^trellis-.+-[0-9a-f]{6}$/.test(name)) return false;
  const r = spawnSync('ip', ['-n', name, '-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  return r.stdout.includes(`inet ${WORKLOAD_NETWORK}.`);
}

function removeAll(names: string[]): string[] {
  for (const name of names) killAllIn(name);
  for (const name of names) {
    if (name.endsWith('-sw')) spawnSync('ip', ['-n', name, 'link', 'del', 'br0'], { stdio: 'ignore' });
    deleteNetns(name);
  }
  return names;
}

/**
 * Workload namespaces `trellis run` made behind this suite's hosts and did not remove (it was
 * killed), with whatever still runs inside. Their veth ends live in the hosts: call this before
 * the hosts go, or the address that identifies them is gone too.
 */
export function removeWorkloadNamespaces(): string[] {
  return removeAll(netnsNames().filter(isWorkloadBehindOurs));
}

/** What a crashed earlier run of this suite left: its workload namespaces, then its own (by prefix). */
export function removeStaleNamespaces(): string[] {
  const workloads = removeWorkloadNamespaces();
  return [...workloads, ...removeAll(netnsNames().filter((n) => n.startsWith(NETNS_PREFIX)))];
}
