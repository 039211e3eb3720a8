// `trellis tap`: live requests of a service or workload, as Linkerd's `viz tap` shows them, through
// the control plane (admin token). Lines as they come; `-o json` prints one JSON object per line.
import type { Command } from 'commander';
import type { TapLine } from '../tap/event.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { streamTap, tapBody, tapSignal, type TapFlags } from './tap-client.ts';
import { TapPrinter } from './tap-format.ts';

interface TapCommandFlags extends TapFlags {
  output?: string;
  control?: string;
  token?: string;
}

/** The flags `tap` and `top` share. */
export function tapOptions(cmd: Command): Command {
  return cmd
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--to <service>', "only the target's calls to this service (its outbound side)")
    .option('--method <method>', 'only requests with this method')
    .option('--path <prefix>', 'only requests whose path starts with this')
    .option('--authority <authority>', 'only requests to this authority (host, or host:port)')
    .option('--max-rps <n>', 'requests reported per second per proxy, at most (default 100, max 1000)')
    .option('--duration <duration>', 'stop after this long, e.g. 30s, 5m (default: until Ctrl-C)')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP);
}

function note(line: TapLine): string | undefined {
  if (line.type === 'started') {
    const where = `${line.target.kind}/${line.target.name}.${line.target.namespace}`;
    return line.proxies === 0
      ? `tapping ${where} (${line.direction}): no proxy of it is connected yet, waiting for one`
      : `tapping ${where} (${line.direction}) on ${line.proxies} ${line.proxies === 1 ? 'proxy' : 'proxies'}`;
  }
  if (line.type === 'dropped')
    return `dropped: ${line.requests} requests (past --max-rps), ${line.events} events (control plane limit or a slow reader)`;
  return undefined;
}

export function registerTapCommand(program: Command): void {
  tapOptions(
    program
      .command('tap')
      .description(
        'stream live requests of a service or workload: request line, status, latency, identities (admin token)',
      )
      .argument('<target>', 'service/NAME, workload/NAME, or a service name'),
  )
    .option('--headers', 'show request and response headers (credentials redacted)')
    .option('--bodies <bytes>', 'show the first BYTES of request and response bodies (max 16384)')
    .option('-o, --output <format>', 'json (one object per line) | wide')
    .addHelpText(
      'after',
      '\nExamples:\n  trellis tap reviews\n  trellis tap workload/web-v1-abc123 --to reviews --path /reviews\n' +
        '  trellis tap reviews --method POST --headers --bodies 256 -o json',
    )
    .action(async (targetArg: string, flags: TapCommandFlags) => {
      const output = flags.output ?? '';
      if (output !== '' && output !== 'json' && output !== 'wide')
        throw new Error(`-o must be json or wide, got "${output}"`);
      const body = tapBody(targetArg, flags);
      const printer = new TapPrinter(output === 'wide');
      const { signal, dispose } = tapSignal(typeof body.duration === 'number' ? body.duration : undefined);
      try {
        await streamTap(
          resolveApiTarget(flags),
          body,
          (line) => {
            if (line.type === 'heartbeat') return;
            if (line.type === 'started' || line.type === 'dropped') {
              const text = note(line);
              if (text !== undefined) process.stderr.write(`${text}\n`);
              if (output === 'json' && line.type === 'dropped')
                process.stdout.write(`${JSON.stringify(line)}\n`);
              return;
            }
            process.stdout.write(
              output === 'json' ? `${JSON.stringify(line)}\n` : `${printer.format(line)}\n`,
            );
          },
          signal,
        );
      } finally {
        dispose();
      }
    });
}
