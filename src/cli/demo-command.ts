// `trellis demo`: a whole mesh on this machine. A control plane, six meshed workloads (web → reviews
// v1+v2 over HTTP, ratings over gRPC, stock over TCP, and a steady load generator), then a 90/10
// canary on reviews. Ctrl-C stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CONTROL_FILE, ControlFile } from './control-target.ts';

const demoDir = fileURLToPath(new URL('../../examples/demo/', import.meta.url));

interface DemoWorkload {
  service: string;
  version?: string;
  protocol?: string;
  servicePort?: number;
  app: string;
  env?: Record<string, string>;
}

const WORKLOADS: DemoWorkload[] = [
  { service: 'reviews', version: 'v1', servicePort: 9080, app: 'reviews.ts', env: { VERSION: 'v1' } },
  { service: 'reviews', version: 'v2', servicePort: 9080, app: 'reviews.ts', env: { VERSION: 'v2' } },
  { service: 'ratings', protocol: 'grpc', servicePort: 50051, app: 'ratings.ts' },
  { service: 'stock', protocol: 'tcp', servicePort: 7000, app: 'stock.ts' },
  { service: 'web', servicePort: 80, app: 'web.ts' },
  { service: 'loadgen', app: 'loadgen.ts' },
];

async function waitForControl(dir: string, up: ChildProcess): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if (up.exitCode !== null) throw new Error('the control plane exited during start-up');
    try {
      return ControlFile.parse(JSON.parse(await readFile(path.join(dir, CONTROL_FILE), 'utf8'))).url;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the control plane did not start within 20 s');
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run a demo mesh on this machine: control plane, HTTP/gRPC/TCP services, a canary, steady load',
    )
    .option('--rate <rps>', 'requests per second from the load generator', '20')
    .action(async (opts: { rate: string }) => {
      const entry = process.argv[1] ?? '';
      const trellis = (args: string[], env: Record<string, string> = {}): ChildProcess =>
        spawn(process.execPath, [...process.execArgv, entry, ...args], {
          stdio: ['ignore', 'inherit', 'inherit'],
          env: { ...process.env, ...env },
        });
      const dir = await mkdtemp(path.join(tmpdir(), 'trellis-demo-'));
      const children: ChildProcess[] = [];
      let stopping = false;
      const stop = async (code: number): Promise<never> => {
        stopping = true;
        const runs = children.slice(1);
        await Promise.all(runs.map((c) => exited(c, 'SIGTERM')));
        if (children[0] !== undefined) await exited(children[0], 'SIGTERM');
        await rm(dir, { recursive: true, force: true });
        process.exit(code);
      };
      process.on('SIGINT', () => void stop(0));
      process.on('SIGTERM', () => void stop(0));

      process.stdout.write(`Starting the control plane (state in ${dir})…\n`);
      const up = trellis(['up', '--dir', dir, '--port', '0']);
      children.push(up);
      const control = await waitForControl(dir, up);
      for (const w of WORKLOADS) {
        const args = ['run', '--control', control, '--service', w.service, '--version', w.version ?? 'v1'];
        if (w.protocol !== undefined) args.push('--protocol', w.protocol);
        if (w.servicePort !== undefined) args.push('--service-port', String(w.servicePort));
        args.push('--', process.execPath, path.join(demoDir, w.app));
        const child = trellis(args, { ...w.env, RATE: opts.rate });
        child.once('exit', (code) => {
          if (!stopping) {
            process.stderr.write(
              `demo: workload ${w.service} ${w.version ?? ''} exited (${code}); stopping\n`,
            );
            void stop(1);
          }
        });
        children.push(child);
      }
      const apply = trellis(['apply', '--control', control, '-f', path.join(demoDir, 'canary.yaml')]);
      await new Promise((r) => apply.once('exit', r));
      const cli = `${path.relative(process.cwd(), entry) || entry}`;
      process.stdout.write(
        [
          '',
          'The demo mesh is up. Every 5 s the load generator prints the reviews split (about 90/10).',
          `  control plane:   ${control}`,
          `  workloads:       node ${cli} get workloads --control ${control}`,
          `  proxies:         node ${cli} proxy-status --control ${control}`,
          `  reviews:         node ${cli} describe service reviews --control ${control}`,
          `  move the split:  edit ${path.join(demoDir, 'canary.yaml')} and apply it again`,
          'Ctrl-C stops everything.',
          '',
        ].join('\n'),
      );
    });
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.once('exit', () => (clearTimeout(kill), resolve()));
    child.kill(signal);
  });
}
