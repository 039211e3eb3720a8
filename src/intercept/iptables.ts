// The nat rules of transparent mode, after the ones Istio's istio-iptables writes into a pod
// (REDIRECT mode): outbound TCP goes to the sidecar's outbound listener, inbound TCP to its inbound
// listener, except the sidecar's own traffic (matched by the group it runs as), loopback traffic
// of the app, the control plane, and what the user excludes. `renderRules` is pure (golden-tested
// as text); `applyRules`/`removeRules` run iptables inside the workload's network namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import { TrellisError } from '../errors.ts';

export const CHAINS = {
  output: 'TRELLIS_OUTPUT',
  redirect: 'TRELLIS_REDIRECT',
  inbound: 'TRELLIS_INBOUND',
  inRedirect: 'TRELLIS_IN_REDIRECT',
} as const;

/** The group the sidecar runs as (Istio's 1337): its sockets are never redirected. */
export const DEFAULT_PROXY_GID = 1337;

export interface InterceptionRules {
  /** The sidecar's outbound listener (on 127.0.0.1): REDIRECT target of the app's connections. */
  outboundPort: number;
  /** The sidecar's inbound listener; undefined: inbound traffic is not captured. */
  inboundPort?: number | undefined;
  proxyGid: number;
  excludeOutboundPorts?: readonly number[];
  excludeInboundPorts?: readonly number[];
  /** IPv4 CIDRs (or addresses) the app reaches directly. */
  excludeOutboundCidrs?: readonly string[];
  /** Endpoints never redirected, e.g. the control plane as dialled from the namespace. */
  excludeOutboundEndpoints?: readonly { address: string; port: number }[];
}

export function ipv4Cidr(value: string): string {
  const [addr, bits] = value.split('/');
  if (addr === undefined || !net.isIPv4(addr)) throw new Error(`not an IPv4 CIDR: "${value}"`);
  if (bits === undefined) return `${addr}/32`;
  const n = Number(bits);
  if (!Number.isInteger(n) || n < 0 || n > 32) throw new Error(`not an IPv4 CIDR: "${value}"`);
  return `${addr}/${n}`;
}

/** iptables-restore input (table nat, applied with --noflush: other rules stay). */
export function renderRules(r: InterceptionRules): string {
  const gid = String(r.proxyGid);
  const lines = ['*nat'];
  const inbound = r.inboundPort !== undefined;
  const chains = inbound
    ? [CHAINS.inbound, CHAINS.redirect, CHAINS.inRedirect, CHAINS.output]
    : [CHAINS.redirect, CHAINS.output];
  for (const c of chains) lines.push(`:${c} - [0:0]`);
  lines.push(`-A ${CHAINS.redirect} -p tcp -j REDIRECT --to-ports ${r.outboundPort}`);
  if (inbound) {
    lines.push(`-A ${CHAINS.inRedirect} -p tcp -j REDIRECT --to-ports ${r.inboundPort}`);
    lines.push(`-A PREROUTING -p tcp -j ${CHAINS.inbound}`);
    // Peers dial the sidecar's inbound port itself (that is what the workload registers).
    const skip = new Set([r.inboundPort!, ...(r.excludeInboundPorts ?? [])]);
    for (const p of skip) lines.push(`-A ${CHAINS.inbound} -p tcp --dport ${p} -j RETURN`);
    lines.push(`-A ${CHAINS.inbound} -p tcp -j ${CHAINS.inRedirect}`);
  }
  lines.push(`-A OUTPUT -p tcp -j ${CHAINS.output}`);
  const out = (rule: string): number => lines.push(`-A ${CHAINS.output} ${rule}`);
  // The sidecar calling this workload's own (non-loopback) address goes over lo: that is inbound.
  if (inbound) out(`-o lo ! -d 127.0.0.1/32 -m owner --gid-owner ${gid} -j ${CHAINS.inRedirect}`);
  // The app talking to itself over lo (localhost or its own address) stays direct.
  out(`-o lo -m owner ! --gid-owner ${gid} -j RETURN`);
  // The sidecar's own connections (upstreams, control plane, passthrough) are never redirected.
  out(`-m owner --gid-owner ${gid} -j RETURN`);
  out('-d 127.0.0.1/32 -j RETURN');
  for (const e of r.excludeOutboundEndpoints ?? [])
    out(`-d ${ipv4Cidr(e.address)} -p tcp --dport ${e.port} -j RETURN`);
  for (const p of r.excludeOutboundPorts ?? []) out(`-p tcp --dport ${p} -j RETURN`);
  for (const c of r.excludeOutboundCidrs ?? []) out(`-d ${ipv4Cidr(c)} -j RETURN`);
  out(`-j ${CHAINS.redirect}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** iptables argv (after `iptables`) that undo renderRules; each may fail when already gone. */
export function removalCommands(): string[][] {
  return [
    ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', CHAINS.inbound],
    ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-j', CHAINS.output],
    ...Object.values(CHAINS).map((c) => ['-t', 'nat', '-F', c]),
    ...Object.values(CHAINS).map((c) => ['-t', 'nat', '-X', c]),
  ];
}

/**
 * The iptables front end: `iptables` (the system's alternative; nf_tables on Debian 12, which is
 * what works inside a netns here), or `TRELLIS_IPTABLES=iptables-legacy`.
 */
export function iptablesCommand(): string {
  return process.env.TRELLIS_IPTABLES ?? 'iptables';
}

function inNetns(netns: string | undefined, argv: string[]): [string, string[]] {
  return netns === undefined ? [argv[0]!, argv.slice(1)] : ['ip', ['netns', 'exec', netns, ...argv]];
}

/** Installs the rules in `netns` (undefined: this namespace); removes an older set first. */
export function applyRules(netns: string | undefined, r: InterceptionRules): void {
  removeRules(netns);
  const [cmd, args] = inNetns(netns, [`${iptablesCommand()}-restore`, '--noflush']);
  try {
    execFileSync(cmd, args, { input: renderRules(r), stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new TrellisError(
      'TRELLIS_IPTABLES_FAILED',
      `iptables-restore in netns ${netns ?? '(current)'} failed: ${stderr || String(err)}`,
      { cause: err },
    );
  }
}

/** Removes the TRELLIS chains and the jumps to them; idempotent (missing rules are fine). */
export function removeRules(netns: string | undefined): void {
  // A jump may have been added twice by hand: delete until iptables says it is gone.
  for (const argv of removalCommands()) {
    for (let i = 0; i < (argv[2] === '-D' ? 8 : 1); i++) {
      const [cmd, args] = inNetns(netns, [iptablesCommand(), '-w', ...argv]);
      if (spawnSync(cmd, args, { stdio: 'ignore' }).status !== 0) break;
    }
  }
}

/** The nat table as iptables-save prints it (for checks and tests). */
export function saveNatTable(netns: string | undefined): string {
  const [cmd, args] = inNetns(netns, [`${iptablesCommand()}-save`, '-t', 'nat']);
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
