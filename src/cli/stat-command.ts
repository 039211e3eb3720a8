// `trellis stat`, `trellis routes`, `trellis edges`: golden metrics the control plane gathered from
// the sidecars (success rate, requests per second, latency percentiles, TCP connections), as
// `linkerd viz stat|routes|edges` show them. `--watch` redraws until Ctrl-C.
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EdgesResponse, RoutesResponse, StatResponse } from '../control/stats/api-stats.ts';
import { statKind } from '../control/stats/query.ts';
import { CliError, ControlApi, EXIT_REFUSED } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { parseOutput, structured, type OutputFormat } from './output.ts';
import { edgesTable, routesTable, statTable } from './stat-format.ts';

interface CommonOptions {
  namespace: string;
  allNamespaces?: boolean;
  timeWindow: string;
  output?: string;
  watch?: boolean;
  watchInterval: string;
  control?: string;
  token?: string;
}

function common(cmd: Command, window: boolean): Command {
  cmd
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-o, --output <format>', 'json|yaml|wide')
    .option('-w, --watch', 'redraw every few seconds until Ctrl-C')
    .option('--watch-interval <seconds>', 'seconds between redraws with --watch', '2')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP);
  if (window) cmd.option('-t, --time-window <window>', 'metrics over this past window (10s to 15m)', '1m');
  return cmd;
}

/** Prints once, or with `--watch` until SIGINT; a failure before the first draw exits. */
async function show(opts: CommonOptions, fetchText: () => Promise<string>): Promise<void> {
  if (opts.watch !== true) return void process.stdout.write(await fetchText());
  const seconds = Number(opts.watchInterval);
  if (!(seconds > 0)) throw new CliError('TRELLIS_BAD_FLAG', '--watch-interval must be > 0', EXIT_REFUSED);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = process.stdout.isTTY;
  let drawn = 0;
  try {
    while (!stop.signal.aborted) {
      let text: string;
      try {
        text = await fetchText();
      } catch (err) {
        if (drawn === 0) throw err;
        text = `error: ${err instanceof Error ? err.message : String(err)}\n`;
      }
      // A terminal gets the table redrawn in place; a pipe gets one block after another.
      process.stdout.write(tty ? `\x1b[2J\x1b[H${text}` : `${drawn > 0 ? '\n' : ''}${text}`);
      drawn++;
      await sleep(seconds * 1000, undefined, { signal: stop.signal }).catch(() => {});
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** JSON/YAML as the API answered, else the table; no rows: says so on stderr, as kubectl does. */
function render<T extends { items: unknown[] }>(
  format: OutputFormat,
  body: T,
  asTable: (b: T) => string,
  empty: string,
): string {
  if (format === 'json' || format === 'yaml') return structured(body, format);
  if (body.items.length === 0) {
    process.stderr.write(`${empty}\n`);
    return '';
  }
  return asTable(body);
}

export function registerStatCommands(program: Command): void {
  common(
    program
      .command('stat')
      .description('golden metrics of services, workloads, deployments or namespaces (inbound traffic)')
      .argument('<kind>', 'services (svc) | workloads (wl) | deployments (deploy) | namespaces (ns)')
      .argument('[name]', 'one resource')
      .option('-A, --all-namespaces', 'every namespace'),
    true,
  ).action(async (kindArg: string, name: string | undefined, opts: CommonOptions) => {
    const kind = statKind(kindArg);
    if (kind === undefined)
      throw new CliError(
        'TRELLIS_UNKNOWN_KIND',
        `unknown kind "${kindArg}": services, workloads, deployments or namespaces`,
        EXIT_REFUSED,
      );
    const format = parseOutput(opts.output);
    const api = new ControlApi(resolveApiTarget(opts));
    const all = opts.allNamespaces === true || kind === 'namespaces';
    const q = new URLSearchParams({ window: opts.timeWindow });
    if (!all) q.set('namespace', opts.namespace);
    if (name !== undefined) q.set('name', name);
    await show(opts, async () => {
      const res = await api.request<StatResponse>('GET', `/api/v1/stats/${kind}?${q}`);
      const showNamespace = opts.allNamespaces === true && kind !== 'namespaces';
      return render(
        format,
        res,
        (r) => statTable(r, { wide: format === 'wide', showNamespace }),
        `No ${kind} found.`,
      );
    });
  });

  common(
    program
      .command('routes')
      .description("golden metrics per route of a service, as its callers' sidecars measured them")
      .argument('<service>', 'service name'),
    true,
  ).action(async (service: string, opts: CommonOptions) => {
    const format = parseOutput(opts.output);
    const api = new ControlApi(resolveApiTarget(opts));
    const path = `/api/v1/stats/services/${encodeURIComponent(opts.namespace)}/${encodeURIComponent(service)}/routes`;
    const q = new URLSearchParams({ window: opts.timeWindow });
    await show(opts, async () => {
      const res = await api.request<RoutesResponse>('GET', `${path}?${q}`);
      return render(format, res, (r) => routesTable(r, { wide: format === 'wide' }), 'No routes.');
    });
  });

  common(
    program
      .command('edges')
      .description('who talks to whom: callers, callees, and the identities mTLS proved between them')
      .argument('[kind]', 'deployments (default) | services | workloads | namespaces', 'deployments')
      .option('-A, --all-namespaces', 'every namespace'),
    true,
  ).action(async (kindArg: string, opts: CommonOptions) => {
    const kind = statKind(kindArg);
    if (kind === undefined)
      throw new CliError(
        'TRELLIS_UNKNOWN_KIND',
        `edges are between deployments, services, workloads or namespaces, not "${kindArg}"`,
        EXIT_REFUSED,
      );
    const format = parseOutput(opts.output);
    const api = new ControlApi(resolveApiTarget(opts));
    const q = new URLSearchParams({ kind, window: opts.timeWindow });
    if (opts.allNamespaces !== true && kind !== 'namespaces') q.set('namespace', opts.namespace);
    await show(opts, async () => {
      const res = await api.request<EdgesResponse>('GET', `/api/v1/stats/edges?${q}`);
      return render(format, res, (r) => edgesTable(r, { wide: format === 'wide' }), 'No edges.');
    });
  });
}
