// The flags that describe a workload, shared by `trellis run` (which passes them on to its
// sidecar) and `trellis sidecar`.
import { Option, type Command } from 'commander';
import type { SidecarOptions } from '../sidecar/sidecar.ts';
import { TOKEN_HELP } from './control-target.ts';

/** The join token `trellis run` hands its sidecar (by env, not argv: `ps` shows argv to everyone). */
export const JOIN_TOKEN_ENV = 'TRELLIS_JOIN_TOKEN';

export interface WorkloadFlags {
  control?: string;
  /** Admin API token, to mint a join token when none is given. */
  token?: string;
  joinToken?: string;
  service: string;
  namespace: string;
  version: string;
  label: string[];
  serviceAccount?: string;
  address: string;
  port?: string;
  servicePort?: string;
  protocol: 'http' | 'http2' | 'grpc' | 'tcp';
  inboundPort: string;
  outboundPort: string;
  adminPort: string;
  calls?: string;
  readyPath?: string;
  region?: string;
  zone?: string;
  name?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function addWorkloadOptions(cmd: Command): Command {
  return cmd
    .option(
      '--control <urls>',
      'control plane URL(s), comma-separated (default: $TRELLIS_CONTROL or ./.trellis)',
    )
    .addOption(
      new Option(
        '--join-token <token>',
        'join token for this service account (trellis token create); default: one made with the admin token',
      ).env(JOIN_TOKEN_ENV),
    )
    .option('--token <token>', `${TOKEN_HELP}, to make a join token when none is given`)
    .requiredOption('--service <name>', 'service this workload belongs to')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--version <v>', 'version label (canaries select on it)', 'v1')
    .option('--label <k=v>', 'extra label (repeatable)', collect, [])
    .option('--service-account <sa>', 'service account (identity); default the service name')
    .option('--address <ip>', 'address peers use to reach this workload', '127.0.0.1')
    .option('--port <port>', "the app's port (given to the app as PORT)")
    .option('--service-port <port>', "the service's port as callers write it (default: --port)")
    .addOption(
      new Option('--protocol <p>', 'what the app speaks')
        .choices(['http', 'http2', 'grpc', 'tcp'])
        .default('http'),
    )
    .option('--inbound-port <port>', 'sidecar inbound port (0: any free port)', '0')
    .option('--outbound-port <port>', 'sidecar outbound (HTTP proxy) port (0: any free port)', '0')
    .option('--admin-port <port>', 'sidecar admin port (0: any free port)', '0')
    .option('--calls <services>', 'only receive config for these services (comma-separated; default all)')
    .option('--ready-path <path>', 'HTTP readiness probe path (default: TCP connect to the app port)')
    .option('--region <region>', 'locality region')
    .option('--zone <zone>', 'locality zone')
    .option('--name <name>', 'workload name (default: service-version-random)');
}

export function parsePort(value: string | undefined, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${flag} must be a port number, got "${value}"`);
  return n;
}

export function toSidecarOptions(f: WorkloadFlags, controlUrls: string[], appPort: number): SidecarOptions {
  const labels: Record<string, string> = {};
  for (const kv of f.label) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--label wants key=value, got "${kv}"`);
    labels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const locality =
    f.region !== undefined || f.zone !== undefined ? { region: f.region, zone: f.zone } : undefined;
  return {
    controlUrls,
    service: f.service,
    namespace: f.namespace,
    version: f.version,
    labels,
    serviceAccount: f.serviceAccount ?? f.service,
    address: f.address,
    appPort,
    servicePort: f.servicePort !== undefined ? parsePort(f.servicePort, '--service-port') : undefined,
    protocol: f.protocol,
    locality: locality as SidecarOptions['locality'],
    ports: {
      inbound: parsePort(f.inboundPort, '--inbound-port'),
      outbound: parsePort(f.outboundPort, '--outbound-port'),
      admin: parsePort(f.adminPort, '--admin-port'),
    },
    scope: f.calls
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    probe: f.readyPath !== undefined ? { kind: 'http', path: f.readyPath } : { kind: 'tcp' },
    name: f.name,
  };
}

/** Turns parsed flags back into argv, for the sidecar process `trellis run` starts. */
export function toArgv(f: WorkloadFlags, controlUrls: string[], appPort: number): string[] {
  const argv = [
    '--control',
    controlUrls.join(','),
    '--service',
    f.service,
    '-n',
    f.namespace,
    '--version',
    f.version,
  ];
  for (const l of f.label) argv.push('--label', l);
  const pairs: [string, string | undefined][] = [
    ['--service-account', f.serviceAccount],
    ['--address', f.address],
    ['--port', String(appPort)],
    ['--service-port', f.servicePort],
    ['--protocol', f.protocol],
    ['--inbound-port', f.inboundPort],
    ['--outbound-port', f.outboundPort],
    ['--admin-port', f.adminPort],
    ['--calls', f.calls],
    ['--ready-path', f.readyPath],
    ['--region', f.region],
    ['--zone', f.zone],
    ['--name', f.name],
  ];
  for (const [flag, value] of pairs) if (value !== undefined) argv.push(flag, value);
  return argv;
}
