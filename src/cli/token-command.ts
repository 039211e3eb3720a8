// `trellis token create|list|revoke`: join tokens, with which a sidecar joins the mesh as a service
// account. `create` prints the token alone, so `TOKEN=$(trellis token create ...)` works.
import type { Command } from 'commander';
import type { JoinTokenRecord } from '../identity/join-tokens.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured, table } from './output.ts';

interface ApiFlags {
  control?: string;
  token?: string;
}

interface CreateFlags extends ApiFlags {
  serviceAccount: string;
  namespace: string;
  ttl?: string;
  description?: string;
  output?: string;
}

function status(r: JoinTokenRecord, now = Date.now()): string {
  if (r.revoked) return colour.red('revoked');
  if (r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now) return colour.yellow('expired');
  return colour.green('valid');
}

const shortTime = (iso: string | undefined): string =>
  iso === undefined ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('join tokens: what lets a sidecar join the mesh as a service account (admin only)');

  token
    .command('create')
    .description('create a join token and print it (alone, unless -o json|yaml)')
    .requiredOption('--service-account <sa>', 'the service account the token lets a sidecar join as')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 24h (default: until revoked)')
    .option('--description <text>', 'a note shown by `trellis token list`')
    .option('-o, --output <format>', 'json|yaml (token and record)')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: CreateFlags) => {
      const format = parseOutput(opts.output);
      if (format === 'wide') throw new Error('-o must be json or yaml for token create');
      const api = new ControlApi(resolveApiTarget(opts));
      const created = await api.request<{ token: string; record: JoinTokenRecord }>(
        'POST',
        '/api/v1/tokens',
        JSON.stringify({
          namespace: opts.namespace,
          serviceAccount: opts.serviceAccount,
          ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}),
          ...(opts.description !== undefined ? { description: opts.description } : {}),
        }),
        'application/json',
      );
      if (format === 'json' || format === 'yaml') process.stdout.write(structured(created, format));
      else process.stdout.write(`${created.token}\n`);
    });

  token
    .command('list')
    .description('list join tokens (their records; a secret is shown only once, at creation)')
    .option('-o, --output <format>', 'json|yaml|wide')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: ApiFlags & { output?: string }) => {
      const format = parseOutput(opts.output);
      const api = new ControlApi(resolveApiTarget(opts));
      const { items } = await api.request<{ items: JoinTokenRecord[] }>('GET', '/api/v1/tokens');
      if (format === 'json' || format === 'yaml')
        return void process.stdout.write(structured({ items }, format));
      if (items.length === 0) return void process.stderr.write('No join tokens.\n');
      const wide = format === 'wide';
      const rows = items.map((r) => [
        r.id,
        r.namespace,
        r.serviceAccount,
        status(r),
        shortTime(r.expiresAt),
        ...(wide ? [shortTime(r.createdAt), r.description ?? ''] : []),
      ]);
      process.stdout.write(
        table(
          [
            'ID',
            'NAMESPACE',
            'SERVICE-ACCOUNT',
            'STATUS',
            'EXPIRES',
            ...(wide ? ['CREATED', 'DESCRIPTION'] : []),
          ],
          rows,
        ),
      );
    });

  token
    .command('revoke')
    .description('revoke a join token: no sidecar can join with it any more')
    .argument('<id>', 'token ID (see trellis token list)')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (id: string, opts: ApiFlags) => {
      const api = new ControlApi(resolveApiTarget(opts));
      await api.request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(`join token ${id} revoked\n`);
    });
}
