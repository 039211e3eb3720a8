// `trellis run -- CMD ARGS`: starts the sidecar, waits until it serves its first snapshot, then
// starts the app with PORT and HTTP_PROXY pointing at it. The two live and die together: when the
// app exits the sidecar deregisters and drains and `run` exits with the app's status; when the
// sidecar dies the app is stopped (no unmeshed app left running). A signal to `run` takes the
// workload out of the mesh first, then stops the app (see `forward`).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { pickAppPort } from './app-port.ts';
import { resolveApiTarget } from './control-target.ts';
import { obtainJoinToken } from './join-token.ts';
import {
  DEREGISTER_COMMAND,
  SUPERVISED_ENV,
  type SidecarDeregisteredMessage,
  type SidecarReadyMessage,
} from './sidecar-command.ts';
import { TransparentWorkload } from '../intercept/transparent.ts';
import {
  addTransparentOptions,
  toTransparentOptions,
  transparentAppEnv,
  transparentSidecarArgs,
  type TransparentFlags,
} from './transparent-options.ts';
import {
  addWorkloadOptions,
  JOIN_TOKEN_ENV,
  parsePort,
  toArgv,
  type WorkloadFlags,
} from './workload-options.ts';

const STOP_GRACE_MS = 5000;
/** Bound on the sidecar's deregistration (bye, ~1 s while peers catch up) before the app is signalled anyway. */
const DEREGISTER_WAIT_MS = 5000;

/** The sidecar's ready or deregistered line on its stdout, or undefined for any other output. */
function parseSidecarMessage(line: string): SidecarReadyMessage | SidecarDeregisteredMessage | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return undefined;
  }
  const type = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined;
  if (type === 'trellis:sidecar-ready') return msg as SidecarReadyMessage;
  if (type === 'trellis:sidecar-deregistered') return msg as SidecarDeregisteredMessage;
  return undefined;
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the child is gone. */
function stopChild(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => (clearTimeout(kill), resolve()));
    child.kill('SIGTERM');
  });
}

export function registerRunCommand(program: Command): void {
  addTransparentOptions(
    addWorkloadOptions(
      program
        .command('run')
        .description(
          'start an app with its sidecar and register it in the mesh: trellis run --service NAME -- CMD ARGS',
        )
        .argument('<command...>', 'the app command (after --)'),
    ),
  ).action(async (command: string[], flags: WorkloadFlags & TransparentFlags) => {
    const control = resolveApiTarget(flags);
    const join = await obtainJoinToken(
      flags,
      control,
      `trellis run ${flags.name ?? `${flags.service}-${flags.version}`}`,
      (message) => process.stderr.write(`trellis run: ${message}\n`),
    );
    /** Exits once the join token made for this workload (if any) is revoked. */
    const exit = (code: number): Promise<never> =>
      (join?.release() ?? Promise.resolve()).then(() => process.exit(code));
    const appPort = flags.port !== undefined ? parsePort(flags.port, '--port') : await pickAppPort();
    const entry = process.argv[1] ?? '';
    // --transparent: app and sidecar in a network namespace of their own (src/intercept).
    let transparent: TransparentWorkload | undefined;
    if (flags.transparent === true) {
      const warn = (message: string): boolean => process.stderr.write(`trellis run: ${message}\n`);
      try {
        transparent = await TransparentWorkload.start(toTransparentOptions(flags, control.urls, warn));
      } catch (err) {
        warn(`--transparent: ${err instanceof Error ? err.message : String(err)}`);
        return exit(1);
      }
      // Every way out (process.exit, an uncaught error) removes the rules, hosts file and namespace.
      transparent.cleanupOnExit();
    }
    const sidecarArgv = [
      process.execPath,
      ...process.execArgv,
      entry,
      'sidecar',
      ...(transparent === undefined
        ? toArgv(flags, control.urls, appPort)
        : transparentSidecarArgs(transparent, flags, appPort)),
    ];
    const sidecar = spawn(...(transparent?.exec(sidecarArgv) ?? [sidecarArgv[0]!, sidecarArgv.slice(1)]), {
      // Transparent mode: iptables tells the sidecar's own connections by this group.
      ...(transparent !== undefined ? { gid: transparent.proxyGid } : {}),
      // Pipes, not IPC: the sidecar may re-exec itself with data-plane V8 flags (bin/trellis.js),
      // and exec keeps only stdio. It prints its ready line on stdout; its stdin stays open while
      // `run` lives, so EOF there tells it that its supervisor is gone.
      stdio: ['pipe', 'pipe', 'inherit'],
      env: {
        ...process.env,
        [SUPERVISED_ENV]: '1',
        ...(join !== undefined ? { [JOIN_TOKEN_ENV]: join.token } : {}),
      },
    });
    // The sidecar may be gone when `run` writes to its stdin (Ctrl-C reaches the whole group).
    sidecar.stdin?.on('error', () => {});
    let onDeregistered = (): void => {};
    const ready = await new Promise<SidecarReadyMessage | undefined>((resolve) => {
      createInterface({ input: sidecar.stdout! }).on('line', (line) => {
        const msg = parseSidecarMessage(line);
        if (msg?.type === 'trellis:sidecar-ready') resolve(msg);
        else if (msg?.type === 'trellis:sidecar-deregistered') onDeregistered();
        else process.stdout.write(`${line}\n`);
      });
      sidecar.once('exit', () => resolve(undefined));
    });
    if (ready === undefined) {
      process.stderr.write(
        `trellis run: the sidecar exited before it was ready (control plane: ${control.urls.join(', ')})\n`,
      );
      return exit(1);
    }
    try {
      transparent?.installRules(ready.ports);
    } catch (err) {
      process.stderr.write(`trellis run: ${err instanceof Error ? err.message : String(err)}\n`);
      await stopChild(sidecar);
      return exit(1);
    }
    const proxyUrl = `http://127.0.0.1:${ready.ports.outbound}`;
    const [cmd, ...args] = command;
    const app = spawn(...(transparent?.exec(command) ?? [cmd ?? '', args]), {
      stdio: 'inherit',
      // Transparent mode: no proxy variables (iptables puts the sidecar in the way).
      env: (transparent === undefined ? (env: NodeJS.ProcessEnv) => env : transparentAppEnv)({
        ...process.env,
        PORT: String(appPort),
        HTTP_PROXY: proxyUrl,
        http_proxy: proxyUrl,
        // gRPC clients (grpc-js, grpc-go) read grpc_proxy first.
        grpc_proxy: proxyUrl,
        NO_PROXY: 'localhost,127.0.0.1,::1',
        no_proxy: 'localhost,127.0.0.1,::1',
        TRELLIS_WORKLOAD: ready.name,
        TRELLIS_ADMIN: `http://127.0.0.1:${ready.ports.admin}`,
      }),
    });
    let finishing = false;
    app.once('error', (err) => {
      process.stderr.write(`trellis run: cannot start ${cmd}: ${err.message}\n`);
      finishing = true;
      void stopChild(sidecar).then(() => exit(127));
    });
    app.once('exit', (code, signal) => {
      if (finishing) return;
      finishing = true;
      // The app is gone: deregister and drain, then report the app's own status.
      void stopChild(sidecar).then(() =>
        exit(code ?? (signal !== null ? 128 + (signalNumber(signal) ?? 1) : 1)),
      );
    });
    sidecar.once('exit', (code, signal) => {
      if (finishing) return;
      finishing = true;
      process.stderr.write(`trellis run: the sidecar exited (${signal ?? code}); stopping the app\n`);
      void stopChild(app).then(() => exit(1));
    });
    const appRunning = (): boolean => app.exitCode === null && app.signalCode === null;
    let leaving = false;
    const forward = (signal: NodeJS.Signals): void => {
      if (!appRunning()) return;
      // A second signal goes straight to the app.
      if (leaving || sidecar.exitCode !== null || sidecar.signalCode !== null) {
        app.kill(signal);
        return;
      }
      leaving = true;
      // Out of the mesh first: the sidecar deregisters and keeps serving while its peers catch up,
      // so no request reaches an app that is stopping. Then the app stops (its outbound still
      // works for its own shutdown), and its exit takes the sidecar down: drain, exit.
      const signalApp = (): void => {
        clearTimeout(bound);
        if (appRunning()) app.kill(signal);
      };
      const bound = setTimeout(signalApp, DEREGISTER_WAIT_MS);
      onDeregistered = signalApp;
      sidecar.stdin?.write(`${DEREGISTER_COMMAND}\n`);
    };
    process.on('SIGINT', () => forward('SIGINT'));
    process.on('SIGTERM', () => forward('SIGTERM'));
    // A hang-up would end `run` without its exit handler: the namespace must not outlive it.
    if (transparent !== undefined) process.on('SIGHUP', () => forward('SIGHUP'));
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const n: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return n[signal];
}
