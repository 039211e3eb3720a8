// `trellis get`, `trellis describe service`, `trellis proxy-status`: reading the mesh.
import type { Command } from 'commander';
import { KINDS, resolveKind, type Resource } from '../resources/kinds.ts';
import type { ServiceDescription } from '../control/describe.ts';
import type { VirtualIpItem } from '../control/api-virtual-ips.ts';
import type { ProxyStatus } from '../control/push-server.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured, table, type OutputFormat } from './output.ts';

interface GetOptions {
  namespace: string;
  allNamespaces?: boolean;
  output?: string;
  control?: string;
  token?: string;
}

function age(iso: string | undefined): string {
  if (iso === undefined) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/** Service `name.namespace` → its virtual IP (`get services -o wide`). */
type VipMap = ReadonlyMap<string, string>;

/** Columns per kind: [header, cell] pairs; `wide` adds the second list. */
function columns(
  r: Resource,
  vips: VipMap = new Map(),
): { base: [string, string][]; wide: [string, string][] } {
  switch (r.kind) {
    case 'Service':
      return {
        base: [
          [
            'PORTS',
            r.spec.ports.map((p) => `${p.port}${p.appProtocol ? `/${p.appProtocol}` : ''}`).join(','),
          ],
          [
            'SELECTOR',
            Object.entries(r.spec.selector ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(',') || '<none>',
          ],
        ],
        wide: [['VIRTUAL-IP', vips.get(`${r.metadata.name}.${r.metadata.namespace}`) ?? '<none>']],
      };
    case 'Workload':
      return {
        base: [
          ['SERVICE', r.spec.service],
          ['VERSION', r.metadata.labels.version],
          ['ADDRESS', `${r.spec.address}:${r.spec.ports.inbound}`],
          ['READY', r.spec.ready ? 'true' : 'false'],
        ],
        wide: [
          ['APP-PORT', String(r.spec.ports.app)],
          ['PROTOCOL', r.spec.protocol],
          ['SERVICE-ACCOUNT', r.spec.serviceAccount],
        ],
      };
    case 'TrafficRoute':
      return {
        base: [
          ['SERVICE', r.spec.service],
          ['ROUTES', r.spec.routes.map((rt, i) => rt.name ?? `#${i}`).join(',')],
        ],
        wide: [
          [
            'BACKENDS',
            r.spec.routes
              .map((rt) => rt.backends.map((b) => `${b.service}:${b.weight ?? 1}`).join('+'))
              .join(' '),
          ],
        ],
      };
    case 'TrafficPolicy':
      return { base: [['SERVICE', r.spec.service]], wide: [['LB', r.spec.lb?.policy ?? 'default']] };
    default: {
      // Dialect kinds (VirtualService, TrafficSplit, HTTPRoute, ...), which the API also lists.
      const other = r as { kind: string; apiVersion: string };
      return { base: [['KIND', other.kind]], wide: [['API-VERSION', other.apiVersion]] };
    }
  }
}

/** `one`: a single resource asked for by name prints as itself; a listing is always a List, as kubectl does. */
function printResources(
  items: Resource[],
  format: OutputFormat,
  showNamespace: boolean,
  one = false,
  vips?: VipMap,
): void {
  if (format === 'json' || format === 'yaml') {
    process.stdout.write(structured(one ? items[0] : { kind: 'List', items }, format));
    return;
  }
  if (items.length === 0) {
    process.stderr.write('No resources found.\n');
    return;
  }
  const sample = columns(items[0]!);
  const pick = (c: ReturnType<typeof columns>): [string, string][] =>
    format === 'wide' ? [...c.base, ...c.wide] : c.base;
  const headers = [...(showNamespace ? ['NAMESPACE'] : []), 'NAME', ...pick(sample).map(([h]) => h)];
  const rows = items.map((r) => [
    ...(showNamespace ? [r.metadata.namespace] : []),
    r.metadata.name,
    ...pick(columns(r, vips)).map(([, v]) => v),
  ]);
  process.stdout.write(table(headers, rows));
}

function virtualIpLine(d: ServiceDescription): string {
  if (d.virtualIp !== undefined) return d.virtualIp;
  const p = d.virtualIpProblem;
  return p === undefined ? '<none>' : colour.red(`<none> (${p.code}: ${p.message})`);
}

/** Service virtual IPs; none from a control plane older than them (the column shows <none>). */
async function virtualIps(api: ControlApi, namespace: string): Promise<VipMap> {
  const res = await api
    .request<{ items: VirtualIpItem[] }>(
      'GET',
      `/api/v1/virtual-ips?namespace=${encodeURIComponent(namespace)}`,
    )
    .catch((err: unknown) => {
      if ((err as { code?: unknown }).code === 'TRELLIS_NOT_FOUND') return { items: [] };
      throw err;
    });
  return new Map(res.items.map((i) => [`${i.name}.${i.namespace}`, i.address]));
}

export function registerGetCommands(program: Command): void {
  program
    .command('get')
    .description(
      `list resources: ${KINDS.map((k) => k.toLowerCase()).join(', ')} (plural and short names work)`,
    )
    .argument('<kind>', 'resource kind')
    .argument('[name]', 'one resource')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-o, --output <format>', 'json|yaml|wide')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (kindArg: string, name: string | undefined, opts: GetOptions) => {
      const kind = resolveKind(kindArg);
      if (kind === undefined) throw new Error(`unknown kind "${kindArg}"; known: ${KINDS.join(', ')}`);
      const format = parseOutput(opts.output);
      const api = new ControlApi(resolveApiTarget(opts));
      if (name !== undefined) {
        const r = await api.request<Resource>(
          'GET',
          `/api/v1/resources/${kind}/${opts.namespace}/${encodeURIComponent(name)}`,
        );
        const vips =
          kind === 'Service' && format === 'wide' ? await virtualIps(api, opts.namespace) : undefined;
        printResources([r], format, false, true, vips);
        return;
      }
      const ns = opts.allNamespaces === true ? '' : opts.namespace;
      const res = await api.request<{ items: Resource[] }>(
        'GET',
        `/api/v1/resources/${kind}?namespace=${encodeURIComponent(ns)}`,
      );
      const vips = kind === 'Service' && format === 'wide' ? await virtualIps(api, ns) : undefined;
      printResources(res.items, format, opts.allNamespaces === true, false, vips);
    });

  program
    .command('describe')
    .description('show a service: endpoints and health, the routes and policies that apply')
    .argument('<kind>', 'service')
    .argument('<name>', 'service name')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (kind: string, name: string, opts: GetOptions) => {
      if (resolveKind(kind) !== 'Service') throw new Error('describe supports: service');
      const api = new ControlApi(resolveApiTarget(opts));
      const d = await api.request<ServiceDescription & { proxies: ProxyStatus[] }>(
        'GET',
        `/api/v1/services/${encodeURIComponent(opts.namespace)}/${encodeURIComponent(name)}`,
      );
      const format = parseOutput(opts.output);
      if (format === 'json' || format === 'yaml') return void process.stdout.write(structured(d, format));
      const out: string[] = [
        `Name:       ${d.name}`,
        `Namespace:  ${d.namespace}`,
        `Source:     ${d.source}`,
        `Ports:      ${d.ports.join(', ')}`,
        `Protocol:   ${d.protocol}`,
        `Virtual IP: ${virtualIpLine(d)}`,
        `Selector:   ${
          d.selector === undefined
            ? '<implicit>'
            : Object.entries(d.selector)
                .map(([k, v]) => `${k}=${v}`)
                .join(',')
        }`,
        'Endpoints:',
      ];
      if (d.endpoints.length === 0) out.push('  <none>');
      else {
        const t = table(
          ['WORKLOAD', 'VERSION', 'ADDRESS', 'READY', 'SERVICE-ACCOUNT'],
          d.endpoints.map((e) => [
            e.workload,
            e.version,
            `${e.address}:${e.inboundPort}`,
            e.ready ? colour.green('true') : colour.red('false'),
            e.serviceAccount,
          ]),
        );
        out.push(
          ...t
            .trimEnd()
            .split('\n')
            .map((l) => `  ${l}`),
        );
      }
      const named = (r: Resource | undefined): string =>
        r === undefined ? '<none>' : `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;
      out.push(
        `Route:      ${named(d.route)}${d.ignoredRoutes.length ? colour.yellow(` (ignored: ${d.ignoredRoutes.join(', ')})`) : ''}`,
      );
      if (d.route?.kind === 'TrafficRoute') {
        for (const rt of d.route.spec.routes) {
          out.push(
            `  ${rt.name ?? '-'} → ${rt.backends.map((b) => `${b.service} (${b.weight ?? 1})`).join(', ')}`,
          );
        }
      }
      out.push(
        `Policy:     ${named(d.policy)}${d.ignoredPolicies.length ? colour.yellow(` (ignored: ${d.ignoredPolicies.join(', ')})`) : ''}`,
      );
      out.push(`Used by:    ${d.referencedBy.join(', ') || '<none>'}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });

  program
    .command('proxy-status')
    .description('every connected proxy, the config version it acknowledged, and any it rejected')
    .option('-o, --output <format>', 'json|yaml|wide')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: { output?: string; control?: string; token?: string }) => {
      const api = new ControlApi(resolveApiTarget(opts));
      const { items } = await api.request<{ items: ProxyStatus[] }>('GET', '/api/v1/proxies');
      const format = parseOutput(opts.output);
      if (format === 'json' || format === 'yaml')
        return void process.stdout.write(structured({ items }, format));
      if (items.length === 0) return void process.stderr.write('No proxies connected.\n');
      const status = (p: ProxyStatus): string =>
        p.nacked !== undefined
          ? colour.red(`REJECTED ${p.nacked.version}: ${p.nacked.error.split('\n')[0]}`)
          : p.acked !== undefined && p.acked === p.sent
            ? colour.green('SYNCED')
            : colour.yellow('STALE');
      const rows = items.map((p) => [
        p.workload,
        p.namespace,
        p.sent ?? '-',
        p.acked ?? '-',
        status(p),
        ...(format === 'wide' ? [age(p.connectedAt), p.id] : []),
      ]);
      process.stdout.write(
        table(
          [
            'NAME',
            'NAMESPACE',
            'SENT',
            'ACKED',
            'STATUS',
            ...(format === 'wide' ? ['CONNECTED', 'PROXY-ID'] : []),
          ],
          rows,
        ),
      );
    });
}
