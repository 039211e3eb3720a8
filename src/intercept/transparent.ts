// `trellis run --transparent`: everything around the two processes. The app and its sidecar share
// a network namespace of their own (made here, joined to the current one by a veth on a /30, or
// an existing one given with --netns); iptables there sends the app's TCP through the sidecar;
// /etc/netns/NS/hosts gives the app the mesh names. `cleanup` undoes all of it, synchronously so
// that it also runs from an exit handler.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { proxyTcp } from '../tcp/tcp-proxy.ts';
import { hostsBase, netnsHostsPath, prepareNetnsHosts, removeNetnsHosts } from './hosts.ts';
import { applyRules, removeRules, type InterceptionRules } from './iptables.ts';
import { acceptNetns, createNetns, deleteNetns, netnsExec, type WorkloadNetns } from './netns.ts';
import { loadOriginalDstAddon } from './original-dst.ts';

export interface TransparentOptions {
  /** An existing namespace to run in (left in place on stop); else one is made. */
  netns?: string | undefined;
  /** Name of the namespace to make (default trellis-SERVICE-RANDOM). */
  service: string;
  /** The namespace at the other end of the veth (default: the current one). */
  peer?: string | undefined;
  /** Where the veth's /30 comes from (DEFAULT_NETNS_POOL). */
  pool?: string | undefined;
  /** With --netns: the workload's address there (default its first global IPv4 address). */
  address?: string | undefined;
  proxyGid: number;
  excludeOutboundPorts: number[];
  excludeInboundPorts: number[];
  excludeOutboundCidrs: string[];
  controlUrls: string[];
  warn: (message: string) => void;
}

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (net.isIPv4(h) && h.startsWith('127.'));
}

export class TransparentWorkload {
  readonly netns: WorkloadNetns;
  /** The control plane as the sidecar inside the namespace dials it. */
  readonly controlUrls: string[];
  readonly hostsFile: string;
  private readonly opts: TransparentOptions;
  private readonly relays: net.Server[];
  private readonly hostsCreated: boolean;
  private rulesInstalled = false;
  private cleaned = false;

  private constructor(
    o: TransparentOptions,
    netns: WorkloadNetns,
    hosts: { file: string; created: boolean },
    control: { urls: string[]; relays: net.Server[] },
  ) {
    this.opts = o;
    this.netns = netns;
    this.hostsFile = hosts.file;
    this.hostsCreated = hosts.created;
    this.controlUrls = control.urls;
    this.relays = control.relays;
  }

  /** Checks the prerequisites, then makes (or accepts) the namespace, its hosts file and control relay. */
  static async start(o: TransparentOptions): Promise<TransparentWorkload> {
    loadOriginalDstAddon(); // TRELLIS_ORIGINAL_DST_UNAVAILABLE before anything is made
    if (process.getuid?.() !== 0)
      throw new Error('--transparent needs root (network namespaces and iptables)');
    const name = o.netns ?? `trellis-${o.service.slice(0, 32)}-${randomBytes(3).toString('hex')}`;
    const netns =
      o.netns !== undefined
        ? acceptNetns(o.netns, o.address)
        : createNetns({ name, peer: o.peer, pool: o.pool });
    let hosts = { file: netnsHostsPath(netns.name), created: false };
    const relays: net.Server[] = [];
    try {
      // Must exist before the first `ip netns exec`, which bind-mounts it over /etc/hosts.
      if (!existsSync(hosts.file)) hosts = { file: prepareNetnsHosts(netns.name), created: true };
      const urls = await controlAsSeenFrom(netns, o, relays);
      return new TransparentWorkload(o, netns, hosts, { urls, relays });
    } catch (err) {
      for (const r of relays) r.close();
      if (hosts.created) removeNetnsHosts(netns.name);
      deleteNetns(netns);
      throw err;
    }
  }

  /** The group the sidecar must run as (its traffic is never redirected). */
  get proxyGid(): number {
    return this.opts.proxyGid;
  }

  /** argv that runs `argv` inside the namespace. */
  exec(argv: readonly string[]): [string, string[]] {
    const full = netnsExec(this.netns.name, argv);
    return [full[0]!, full.slice(1)];
  }

  /** The rules for the sidecar's ports (once they are known); replaces an earlier set. */
  rules(ports: { inbound: number; outbound: number }): InterceptionRules {
    const o = this.opts;
    return {
      outboundPort: ports.outbound,
      inboundPort: ports.inbound,
      proxyGid: o.proxyGid,
      excludeOutboundPorts: o.excludeOutboundPorts,
      excludeInboundPorts: o.excludeInboundPorts,
      excludeOutboundCidrs: o.excludeOutboundCidrs,
      excludeOutboundEndpoints: controlEndpoints(this.controlUrls),
    };
  }

  installRules(ports: { inbound: number; outbound: number }): void {
    this.rulesInstalled = true;
    applyRules(this.netns.name, this.rules(ports));
  }

  /** Cleans up on every way out that still runs JavaScript: process.exit, an uncaught error. */
  cleanupOnExit(): void {
    process.once('exit', () => this.cleanup());
    const fatal = (err: unknown): void => {
      this.cleanup();
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    };
    process.once('uncaughtException', fatal);
    process.once('unhandledRejection', fatal);
  }

  /** Removes the rules, the hosts file, the relays and the namespace it made. Idempotent, synchronous. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const r of this.relays) r.close();
    if (this.rulesInstalled) removeRules(this.netns.name);
    if (this.hostsCreated) removeNetnsHosts(this.netns.name);
    else restoreHosts(this.hostsFile);
    deleteNetns(this.netns);
  }
}

/** The user's own hosts file (an accepted namespace): our block out, the rest as it was. */
function restoreHosts(file: string): void {
  try {
    writeFileSync(file, hostsBase(readFileSync(file, 'utf8')), { flag: 'w' });
  } catch {
    // Gone meanwhile: nothing to restore.
  }
}

function controlEndpoints(urls: string[]): { address: string; port: number }[] {
  const out: { address: string; port: number }[] = [];
  for (const u of urls) {
    const url = new URL(u);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (net.isIPv4(url.hostname)) out.push({ address: url.hostname, port });
  }
  return out;
}

/**
 * A control plane on loopback is out of the namespace's reach: for a namespace joined to this one,
 * a relay on the veth's peer address forwards to it. Other URLs must already be reachable from inside.
 */
async function controlAsSeenFrom(
  ns: WorkloadNetns,
  o: TransparentOptions,
  relays: net.Server[],
): Promise<string[]> {
  const urls: string[] = [];
  for (const u of o.controlUrls) {
    const url = new URL(u);
    if (!isLoopbackHost(url.hostname)) {
      urls.push(u);
      continue;
    }
    if (ns.peerAddress === undefined || o.peer !== undefined) {
      o.warn(`the control plane at ${u} is on loopback, out of reach from netns ${ns.name}: give --control`);
      urls.push(u);
      continue;
    }
    const target = {
      address: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    };
    const relay = net.createServer({ pauseOnConnect: true }, (s) =>
      proxyTcp(s, Buffer.alloc(0), target, { connectTimeoutMs: 5000, idleTimeoutMs: 0 }),
    );
    relays.push(relay);
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(0, ns.peerAddress, () => resolve());
    });
    const { port } = relay.address() as net.AddressInfo;
    url.hostname = ns.peerAddress;
    url.port = String(port);
    urls.push(url.toString().replace(/\/$/, u.endsWith('/') ? '/' : ''));
  }
  return urls;
}
