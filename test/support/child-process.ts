// Child processes of tests (etcd, Prometheus) on loopback: a free port for them, and a stop that
// waits for the exit (SIGTERM, then SIGKILL after 5 s); and a CLI run to completion.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** Stops `child` and resolves when it has exited; at once when it already has. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }, 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    process.kill(pid, 'SIGTERM');
  });
}

/** A port free on 127.0.0.1 right now (for a process that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = a !== null && typeof a === 'object' ? a.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node ARGV` (a CLI, as a user runs it) to completion and collects its output; SIGKILLed
 * after `timeoutMs`. `onSpawn` gets the child, so a test's teardown can end it too.
 */
export function runNode(
  argv: string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; onSpawn?: (child: ChildProcess) => void },
): Promise<CliRun> {
  const child = spawn(process.execPath, argv, {
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    env: o.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  o.onSpawn?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
