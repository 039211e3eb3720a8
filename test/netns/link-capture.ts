// tcpdump on one of the test's own links (inside the test's namespace), written to a file and
// parsed here when stopped. Not --immediate-mode: that ring buffer has one slot per snapshot
// length (256 KiB each, for veth's large GSO packets), so a few dozen packets while tcpdump waits
// for a CPU overflow it; the default ring packs packets densely, and hands a block over once it
// is full or 1 s old, hence `stop` lets 1.5 s pass first. A file, not a pipe: a busy test process
// would leave a pipe full and tcpdump blocked.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parsePcap, type Capture } from './pcap.ts';

export interface CaptureResult extends Capture {
  /** What tcpdump said on stderr (its counts: captured, received, dropped by kernel). */
  report: string;
  /** tcpdump's "N packets dropped by kernel". */
  droppedByKernel: number;
}

export class LinkCapture {
  private readonly child: ChildProcess;
  private readonly file: string;
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(netns: string, iface: string, file: string) {
    this.file = file;
    // -Z root: tcpdump would otherwise drop to its own user, who cannot write in the test's dir.
    const args = [
      '-i',
      iface,
      '--immediate-mode',
      '-U',
      '-B',
      '4096',
      '-s',
      '0',
      '-Z',
      'root',
      '-w',
      file,
      'tcp',
    ];
    this.child = spawn('ip', ['netns', 'exec', netns, 'tcpdump', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  /** Starts capturing TCP on `iface` in `netns` into `file`; resolves once tcpdump listens. */
  static async start(netns: string, iface: string, file: string): Promise<LinkCapture> {
    const c = new LinkCapture(netns, iface, file);
    for (let i = 0; i < 200 && !c.stderr.includes('listening on'); i++) {
      if (c.child.exitCode !== null) break;
      await sleep(25);
    }
    if (!c.stderr.includes('listening on')) {
      c.kill();
      throw new Error(`tcpdump on ${iface} in ${netns} did not start: ${c.stderr}`);
    }
    return c;
  }

  /** Stops tcpdump (SIGINT: it flushes and prints its counts) and parses what it wrote. */
  async stop(): Promise<CaptureResult> {
    await sleep(1500); // the kernel hands over a block that is not full after 1 s
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    const killer = setTimeout(() => this.kill(), 5000);
    await this.exited;
    clearTimeout(killer);
    const dropped = /(\d+) packets? dropped by kernel/.exec(this.stderr);
    return {
      ...parsePcap(readFileSync(this.file)),
      report: this.stderr.trim(),
      droppedByKernel: dropped === null ? -1 : Number(dropped[1]),
    };
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
