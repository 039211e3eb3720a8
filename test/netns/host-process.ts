// A process started inside one of the test's host namespaces, in a process group of its own so
// that cleanup reaches what it started (sidecar, app) by the group's id. It collects stdout as
// JSON lines (what the test's fixtures and `trellis run`'s app print) and keeps the tail of stderr
// for failure messages.
//
// `nsenter --net`, not `ip netns exec`: the latter also gives the process a mount namespace of its
// own, so the workload namespaces `trellis run --transparent` makes from there would be mounted
// only there, invisible from here: a run that had to be killed would leave them where this test's
// cleanup cannot see them. Nothing here needs what else `ip netns exec` does (/etc/netns, /sys).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin/trellis.js');

export type Message = Record<string, unknown> & { type?: unknown };

export class HostProcess {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  readonly messages: Message[] = [];
  private readonly child: ChildProcess;
  private stderrTail = '';
  private readonly waiters = new Set<() => void>();

  /** `argv` runs inside `netns`; stdin is a pipe (commands for the fixture app) when `stdin` is true. */
  constructor(netns: string, argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: boolean }) {
    this.child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', ...argv], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${argv.join(' ')} in ${netns}`);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    void this.exited.then(() => this.wake());
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        const msg: unknown = JSON.parse(line);
        if (typeof msg === 'object' && msg !== null) this.messages.push(msg as Message);
      } catch {
        return;
      }
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-6000);
      this.wake();
    });
  }

  /** `trellis ARGS` inside `netns`. */
  static trellis(
    netns: string,
    args: string[],
    opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: boolean },
  ): HostProcess {
    return new HostProcess(netns, [process.execPath, BIN, ...args], opts);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves at the next output or exit (or after `ms`). */
  private next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /** The first message from index `from` on that satisfies `pred`; fails if the process exits or time runs out. */
  async waitFor(what: string, pred: (m: Message) => boolean, timeoutMs: number, from = 0): Promise<Message> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found !== undefined) return found;
      const left = deadline - performance.now();
      if (!this.running || left <= 0) {
        const why = this.running ? `not seen within ${timeoutMs} ms` : 'the process exited first';
        throw new Error(`${what}: ${why}; stderr tail:\n${this.stderrTail}`);
      }
      await this.next(Math.min(left, 1000));
    }
  }

  /** Waits until stderr contains `text` (a log line of `trellis up`, for instance). */
  async waitForStderr(what: string, text: string, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.stderrTail.includes(text)) {
      const left = deadline - performance.now();
      if (!this.running || left <= 0)
        throw new Error(
          `${what}: ${this.running ? 'timed out' : 'exited'}; stderr tail:\n${this.stderrTail}`,
        );
      await this.next(Math.min(left, 1000));
    }
  }

  /** A JSON command line on the process's stdin. */
  send(command: object): void {
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** SIGTERM to the leader (`trellis run` then removes its namespace), SIGKILL to the group after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.killGroup(), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.killGroup();
  }

  private killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is empty already
    }
  }
}
