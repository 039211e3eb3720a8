// The flags of `trellis run --transparent` (docs/interception.md) and what they become.
import type { Command } from 'commander';
import { DEFAULT_PROXY_GID, ipv4Cidr } from '../intercept/iptables.ts';
import { DEFAULT_NETNS_POOL } from '../intercept/netns.ts';
import type { TransparentOptions, TransparentWorkload } from '../intercept/transparent.ts';
import { parsePort, toArgv, type WorkloadFlags } from './workload-options.ts';

export interface TransparentFlags {
  transparent?: boolean;
  netns?: string;
  netnsPeer?: string;
  netnsPool: string;
  proxyGid: string;
  excludeOutboundPorts?: string;
  excludeInboundPorts?: string;
  excludeOutboundCidrs?: string;
}

export function addTransparentOptions(cmd: Command): Command {
  return cmd
    .option('--transparent', "capture the app's TCP with iptables in its own network namespace (root)")
    .option('--netns <name>', 'transparent: run in this existing network namespace (default: make one)')
    .option('--netns-peer <name>', 'transparent: namespace at the other end of the veth (default: this one)')
    .option('--netns-pool <cidr>', 'transparent: the veth /30 is taken from this range', DEFAULT_NETNS_POOL)
    .option(
      '--proxy-gid <gid>',
      'transparent: group the sidecar runs as (never redirected)',
      String(DEFAULT_PROXY_GID),
    )
    .option('--exclude-outbound-ports <ports>', 'transparent: destination ports the app reaches directly')
    .option('--exclude-inbound-ports <ports>', 'transparent: local ports peers reach without the sidecar')
    .option('--exclude-outbound-cidrs <cidrs>', 'transparent: IPv4 ranges the app reaches directly');
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function toTransparentOptions(
  f: TransparentFlags & { service: string; address: string },
  controlUrls: string[],
  warn: (message: string) => void,
): TransparentOptions {
  const gid = Number(f.proxyGid);
  if (!Number.isInteger(gid) || gid <= 0)
    throw new Error(`--proxy-gid must be a positive group id, got "${f.proxyGid}"`);
  return {
    netns: f.netns,
    service: f.service,
    peer: f.netnsPeer,
    pool: f.netnsPool,
    // 127.0.0.1 is --address's default: inside a namespace of its own it means "find it".
    address: f.address === '127.0.0.1' ? undefined : f.address,
    proxyGid: gid,
    excludeOutboundPorts: list(f.excludeOutboundPorts).map((p) => parsePort(p, '--exclude-outbound-ports')),
    excludeInboundPorts: list(f.excludeInboundPorts).map((p) => parsePort(p, '--exclude-inbound-ports')),
    excludeOutboundCidrs: list(f.excludeOutboundCidrs).map(ipv4Cidr),
    controlUrls,
    warn,
  };
}

/** The app's environment in transparent mode: no proxy variables, the mesh is in the way already. */
export function transparentAppEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of [
    'HTTP_PROXY',
    'http_proxy',
    'HTTPS_PROXY',
    'https_proxy',
    'grpc_proxy',
    'NO_PROXY',
    'no_proxy',
  ])
    delete out[k];
  return out;
}

/** The sidecar's flags inside the namespace: its address there, the control plane as seen from there. */
export function transparentSidecarArgs(t: TransparentWorkload, f: WorkloadFlags, appPort: number): string[] {
  return [...toArgv({ ...f, address: t.netns.address }, t.controlUrls, appPort), '--hosts-file', t.hostsFile];
}
