// Mesh names for an app in transparent mode: `ip netns exec NS` bind-mounts /etc/netns/NS/hosts
// over /etc/hosts, so the names of ProxyConfig.dns written there resolve (for unmodified clients)
// to addresses the sidecar intercepts. The file is rewritten in place (truncate + write): a bind
// mount follows the inode, so replacing the file by a rename would hide the update from the app.
import { mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MeshDns } from '../model/interception.ts';

const MARKER = '# --- trellis: mesh names (rewritten by the sidecar on every snapshot) ---';
const LOCALHOST = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';

export function netnsHostsPath(netns: string): string {
  return `/etc/netns/${netns}/hosts`;
}

/** The file without our block, with localhost entries guaranteed. */
export function hostsBase(text: string): string {
  const at = text.indexOf(MARKER);
  let base = at === -1 ? text : text.slice(0, at);
  if (!/^\s*127\.0\.0\.1\s+(.*\s)?localhost(\s|$)/m.test(base)) base = LOCALHOST + base;
  if (base !== '' && !base.endsWith('\n')) base += '\n';
  return base;
}

/** base + one line per mesh address (names sorted, duplicates dropped). */
export function renderHosts(base: string, dns: MeshDns | undefined): string {
  const lines = [hostsBase(base) + MARKER];
  const byAddress = new Map<string, Set<string>>();
  for (const h of dns?.hosts ?? []) {
    let names = byAddress.get(h.address);
    if (names === undefined) byAddress.set(h.address, (names = new Set()));
    for (const n of h.names) names.add(n);
  }
  for (const [address, names] of [...byAddress].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    lines.push(`${address}\t${[...names].join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Creates /etc/netns/NS/hosts from the host's /etc/hosts (before anything runs in NS). */
export function prepareNetnsHosts(netns: string, from = '/etc/hosts'): string {
  const file = netnsHostsPath(netns);
  let base = '';
  try {
    base = readFileSync(from, 'utf8');
  } catch {
    // No hosts file on the host: localhost entries only.
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, renderHosts(base, undefined));
  return file;
}

export function removeNetnsHosts(netns: string): void {
  const file = netnsHostsPath(netns);
  rmSync(file, { force: true });
  try {
    rmdirSync(path.dirname(file));
  } catch {
    // Not empty (someone else's files) or already gone.
  }
}

/** The sidecar's writer: keeps the file's own lines, replaces the mesh block when the names change. */
export class HostsFile {
  readonly path: string;
  private base: string | undefined;
  private last: string | undefined;

  constructor(file: string) {
    this.path = file;
  }

  /** Returns true when the file was rewritten. */
  update(dns: MeshDns | undefined): boolean {
    if (this.base === undefined) {
      let current = '';
      try {
        current = readFileSync(this.path, 'utf8');
      } catch {
        // Created below.
      }
      this.base = hostsBase(current);
    }
    const text = renderHosts(this.base, dns);
    if (text === this.last) return false;
    // flag 'w' is O_TRUNC on the existing inode (never a rename): the bind mount sees it.
    writeFileSync(this.path, text, { flag: 'w' });
    this.last = text;
    return true;
  }
}
