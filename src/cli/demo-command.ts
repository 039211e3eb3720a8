// `trellis demo`: a whole mesh on this machine. A control plane, six meshed workloads (web → reviews
// v1+v2 over HTTP, ratings over gRPC, stock over TCP, and a steady load generator), then a 90/10
// canary on reviews. Ctrl-C stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { API_TOKEN_FILES } from '../control/api-auth.ts';
import { CONTROL_FILE, ControlFile, TOKEN_ENV } from './control-target.ts';

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
  for (let i = 0; i < 600; i++) {
    if (up.exitCode !== null) throw new Error('the control plane exited during start-up');
    try {
      return ControlFile.parse(JSON.parse(await readFile(path.join(dir, CONTROL_FILE), 'utf8'))).url;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the control plane did not start within 60 s');
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
          env: { TRELLIS_LOG_LEVEL: 'warn', ...process.env, ...env },
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

      try {
        await startDemo();
      } catch (err) {
        // A start that fails half-way must not leave a control plane and workloads behind.
        process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}; stopping\n`);
        await stop(1);
      }

      async function startDemo(): Promise<void> {
        process.stdout.write(`Starting the control plane (state in ${dir})…\n`);
        const up = trellis(['up', '--dir', dir, '--port', '0']);
        children.push(up);
        const control = await waitForControl(dir, up);
        // Written before control.json: the workloads make their join tokens with it, and apply needs it.
        const tokenFile = path.join(dir, API_TOKEN_FILES.admin);
        const adminToken = (await readFile(tokenFile, 'utf8')).trim();
        const start = (w: DemoWorkload): void => {
          const args = ['run', '--control', control, '--service', w.service, '--version', w.version ?? 'v1'];
          if (w.protocol !== undefined) args.push('--protocol', w.protocol);
          if (w.servicePort !== undefined) args.push('--service-port', String(w.servicePort));
          args.push('--', process.execPath, path.join(demoDir, w.app));
          const child = trellis(args, { ...w.env, RATE: opts.rate, [TOKEN_ENV]: adminToken });
          child.once('exit', (code) => {
            if (!stopping) {
              process.stderr.write(
                `demo: workload ${w.service} ${w.version ?? ''} exited (${code}); stopping\n`,
              );
              void stop(1);
            }
          });
          children.push(child);
        };
        const services = WORKLOADS.filter((w) => w.service !== 'loadgen');
        services.forEach(start);
        // The load starts once every service has a ready endpoint, so its first lines show no warm-up errors.
        await waitForReady(control, adminToken, services.length);
        WORKLOADS.filter((w) => w.service === 'loadgen').forEach(start);
        // The policies first: rolling back to the canary's revision (the dashboard's config view) keeps them.
        for (const file of ['security.yaml', 'canary.yaml']) {
          const apply = trellis(['apply', '--control', control, '-f', path.join(demoDir, file)], {
            [TOKEN_ENV]: adminToken,
          });
          const applied = await new Promise<number | null>((resolve) => {
            const limit = setTimeout(() => apply.kill('SIGKILL'), 60_000);
            apply.once('exit', (code) => (clearTimeout(limit), resolve(code)));
          });
          if (applied !== 0) throw new Error(`applying ${file} failed (exit ${applied})`);
        }
        const cli = `node ${path.relative(process.cwd(), entry) || entry}`;
        process.stdout.write(
          [
            '',
            'The demo mesh is up: web calls reviews (HTTP, v1 and v2), ratings (gRPC) and stock (TCP);',
            'loadgen sends steady traffic to web and prints the reviews split every 5 s (about 90/10).',
            'Each service accepts only its callers (examples/demo/security.yaml: Istio AuthorizationPolicy).',
            `In another terminal:  export TRELLIS_CONTROL=${control} ${TOKEN_ENV}=$(cat ${tokenFile})`,
            `  ${cli} get workloads -o wide`,
            `  ${cli} proxy-status`,
            `  ${cli} describe service reviews`,
            `  ${cli} stat deployments             (success rate, RPS, latency per version)`,
            `  ${cli} edges                        (who calls whom, with mTLS identities)`,
            `  ${cli} tap reviews                  (live requests; Ctrl-C to stop)`,
            `  ${cli} top reviews`,
            `  ${cli} apply -f ${path.join(demoDir, 'canary.yaml')}   (after editing the weights)`,
            `  ${cli} dashboard                    (the web dashboard: topology, services, tap, config)`,
            'Ctrl-C stops everything.',
            '',
          ].join('\n'),
        );
      }
    });
}

/** Polls the registry until `count` workloads are ready (bounded: 90 s, for a busy machine). */
async function waitForReady(control: string, token: string, count: number): Promise<void> {
  for (let i = 0; i < 900; i++) {
    try {
      const res = await fetch(`${control}/api/v1/resources/Workload`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as { items: { spec: { ready: boolean } }[] };
      if (body.items.filter((w) => w.spec.ready).length >= count) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the demo services did not become ready within 90 s (control plane ${control})`);
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.once('exit', () => (clearTimeout(kill), resolve()));
    child.kill(signal);
  });
}
