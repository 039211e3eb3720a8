// `trellis proxy-config PROXY listeners|routes|clusters|endpoints|secrets`: the config one proxy has
// in force (the snapshot it last ACKed), as `istioctl proxy-config` shows Envoy's. PROXY is the full
// proxy ID (`trellis proxy-status -o wide`), the workload name, or a unique prefix of either; -n
// narrows the search to one namespace.
import type { Command } from 'commander';
import type { ProxyConfigView } from '../control/api-proxy-config.ts';
import type { ProxyStatus } from '../control/push-server.ts';
import { CliError, ControlApi, EXIT_REFUSED } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { parseOutput, structured, table } from './output.ts';
import { parseSection, SECTIONS, sectionItems, sectionTable, type Section } from './proxy-config-sections.ts';

interface ProxyConfigFlags {
  namespace?: string;
  output?: string;
  control?: string;
  token?: string;
}

const ProxyNotFound = (arg: string, namespace: string | undefined): CliError =>
  new CliError(
    'TRELLIS_PROXY_NOT_FOUND',
    `no connected proxy matches "${arg}"${namespace !== undefined ? ` in namespace ${namespace}` : ''} ` +
      '(see trellis proxy-status -o wide)',
    EXIT_REFUSED,
  );

/**
 * The proxy `arg` names: its exact ID, else its workload's exact name, else a unique prefix of an
 * ID, else of a workload name. Two streams of one proxy (a reconnect) count once.
 */
export function resolveProxy(items: readonly ProxyStatus[], arg: string, namespace?: string): ProxyStatus {
  const byId = new Map<string, ProxyStatus>();
  for (const p of items) if (namespace === undefined || p.namespace === namespace) byId.set(p.id, p);
  const proxies = [...byId.values()];
  const tries: ((p: ProxyStatus) => boolean)[] = [
    (p) => p.id === arg,
    (p) => p.workload === arg,
    (p) => p.id.startsWith(arg),
    (p) => p.workload.startsWith(arg),
  ];
  for (const matches of tries) {
    const found = proxies.filter(matches);
    if (found.length === 1) return found[0]!;
    if (found.length > 1)
      throw new CliError(
        'TRELLIS_PROXY_AMBIGUOUS',
        `"${arg}" matches ${found.length} proxies: ${found
          .map((p) => p.id)
          .sort()
          .join(', ')}; give more of the ID, or -n NAMESPACE`,
        EXIT_REFUSED,
      );
  }
  throw ProxyNotFound(arg, namespace);
}

/** What the operator should know about the versions before reading the table (stderr). */
export function versionNotes(view: ProxyConfigView): string[] {
  const id = view.proxy.id;
  const notes: string[] = [];
  if (view.inForce === null)
    notes.push(
      `proxy ${id} has not acknowledged a config on its stream yet${view.pending !== undefined ? ` (version ${view.pending} pending)` : ''}`,
    );
  else if (view.pending !== undefined)
    notes.push(
      `showing version ${view.inForce} in force; version ${view.pending} is sent, not acknowledged yet`,
    );
  if (view.rejected !== undefined)
    notes.push(
      `proxy ${id} rejected version ${view.rejected.version}, version ${view.inForce ?? '-'} stays in force: ` +
        (view.rejected.error.split('\n')[0] ?? ''),
    );
  return notes;
}

export function renderSection(view: ProxyConfigView, section: Section, format: 'table' | 'wide'): string {
  const { headers, rows } = sectionTable(view, section, format === 'wide');
  return rows.length === 0 ? '' : table(headers, rows);
}

export function registerProxyConfigCommand(program: Command): void {
  program
    .command('proxy-config')
    .description(
      'the config one proxy has in force (the version it last acknowledged): ' +
        'listeners, routes, clusters, endpoints or secrets',
    )
    .argument(
      '<proxy>',
      'proxy ID (trellis proxy-status -o wide), workload name, or a unique prefix of either',
    )
    .argument('<section>', SECTIONS.join('|'))
    .option('-n, --namespace <ns>', 'only proxies of this namespace (default: any)')
    .option('-o, --output <format>', 'json|yaml (the raw model objects; secrets summarised)|wide')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .addHelpText(
      'after',
      '\nEndpoint health is as the control plane sent it; the proxy may have ejected some meanwhile\n' +
        '(outlier detection): see its /metrics. Private keys never leave the proxy; certificates are\n' +
        'shown by SPIFFE ID, issuer and validity.',
    )
    .action(async (proxyArg: string, sectionArg: string, opts: ProxyConfigFlags) => {
      const section = parseSection(sectionArg);
      if (section === undefined)
        throw new CliError(
          'TRELLIS_BAD_ARGUMENT',
          `unknown section "${sectionArg}"; one of: ${SECTIONS.join(', ')}`,
          EXIT_REFUSED,
        );
      const format = parseOutput(opts.output);
      const api = new ControlApi(resolveApiTarget(opts));
      const { items } = await api.request<{ items: ProxyStatus[] }>('GET', '/api/v1/proxies');
      const proxy = resolveProxy(items, proxyArg, opts.namespace);
      const view = await api.request<ProxyConfigView>(
        'GET',
        `/api/v1/proxies/${encodeURIComponent(proxy.id)}/config`,
      );
      for (const note of versionNotes(view)) process.stderr.write(`note: ${note}\n`);
      if (format === 'json' || format === 'yaml')
        return void process.stdout.write(structured(sectionItems(view, section), format));
      const text = renderSection(view, section, format);
      if (text === '') process.stderr.write(`No ${section} in the config of ${view.proxy.id}.\n`);
      else process.stdout.write(text);
    });
}
