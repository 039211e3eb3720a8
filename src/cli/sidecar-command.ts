// `trellis sidecar`: the sidecar alone, for an app started some other way (and what `trellis run`
// starts next to the app). Exits 0 after a drain on SIGTERM/SIGINT, or when its parent goes away.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { resolveApiTarget } from './control-target.ts';
import { obtainJoinToken } from './join-token.ts';
import { addWorkloadOptions, parsePort, toSidecarOptions, type WorkloadFlags } from './workload-options.ts';
import { createLogger } from '../log.ts';
import { shutdownTracing } from '../tracing/tracer.ts';

/**
 * Set by `trellis run` for its sidecar: print the ready line on stdout, stop on EOF of stdin, and
 * leave the mesh on the line `DEREGISTER_COMMAND` there (answered by `SidecarDeregisteredMessage`).
 */
export const SUPERVISED_ENV = 'TRELLIS_SUPERVISED';

/** What `trellis run` writes to its sidecar's stdin before it stops the app. */
export const DEREGISTER_COMMAND = 'deregister';

/** The sidecar's answer (one JSON line on stdout): out of the mesh, peers caught up, still serving. */
export interface SidecarDeregisteredMessage {
  type: 'trellis:sidecar-deregistered';
}

/** What the sidecar tells `trellis run` (one JSON line on stdout) once it serves its first snapshot. */
export interface SidecarReadyMessage {
  type: 'trellis:sidecar-ready';
  name: string;
  ports: { inbound: number; outbound: number; admin: number };
}

export function registerSidecarCommand(program: Command): void {
  addWorkloadOptions(
    program
      .command('sidecar')
      .description('run a sidecar proxy for an app started separately (needs --port)')
      .option(
        '--hosts-file <path>',
        "transparent mode: the app's hosts file, kept in sync with the mesh names",
      ),
  ).action(async (flags: WorkloadFlags & { hostsFile?: string }) => {
    const { startSidecar } = await import('../sidecar/sidecar.ts');
    const log = createLogger('trellis-sidecar');
    if (flags.port === undefined) throw new Error('--port (the app port) is required');
    const control = resolveApiTarget(flags);
    const join = await obtainJoinToken(
      flags,
      control,
      `trellis sidecar ${flags.name ?? `${flags.service}-${flags.version}`}`,
      (message) => log.warn(message),
    );
    const sidecar = await startSidecar(
      {
        ...toSidecarOptions(flags, control.urls, parsePort(flags.port, '--port')),
        joinToken: join?.token,
        hostsFile: flags.hostsFile,
      },
      log,
    );
    log.info(
      { workload: sidecar.registration.name, ports: sidecar.ports, control: control.urls },
      'sidecar listening, waiting for its first snapshot',
    );
    const slow = setTimeout(
      () =>
        log.warn(
          { control: control.urls, source: control.source },
          'no snapshot from the control plane yet — is `trellis up` running and reachable?',
        ),
      5000,
    );
    let stopping = false;
    const stop = async (why: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      clearTimeout(slow);
      log.info({ why }, 'deregistering and draining');
      await sidecar.stop();
      await shutdownTracing();
      await join?.release();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    // Started by `trellis run`: if that supervisor dies (its end of our stdin closes), the sidecar
    // must not linger.
    const supervised = process.env[SUPERVISED_ENV] === '1';
    if (supervised) {
      process.stdin.once('end', () => void stop('supervisor gone'));
      process.stdin.once('error', () => void stop('supervisor gone'));
      createInterface({ input: process.stdin }).on('line', (line) => {
        if (line.trim() !== DEREGISTER_COMMAND) return;
        log.info('deregistering before the app stops');
        void sidecar.deregister().then(() => {
          const done: SidecarDeregisteredMessage = { type: 'trellis:sidecar-deregistered' };
          process.stdout.write(`${JSON.stringify(done)}\n`);
        });
      });
    }
    await sidecar.control.firstSnapshot;
    clearTimeout(slow);
    const ready: SidecarReadyMessage = {
      type: 'trellis:sidecar-ready',
      name: sidecar.registration.name,
      ports: sidecar.ports,
    };
    if (supervised) process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
}
