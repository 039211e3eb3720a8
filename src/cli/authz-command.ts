// `trellis authz explain`: would a request from this service account (or a plaintext caller) to this
// service be allowed, by each workload behind it, and why. A query: exit 0 whatever the decision.
import type { Command } from 'commander';
import type { Explanation, ExplainedWorkload } from '../control/api-identity-explain.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured } from './output.ts';

interface ExplainFlags {
  from?: string;
  fromNamespace: string;
  plaintext?: boolean;
  sourceIp?: string;
  to: string;
  method: string;
  path: string;
  port?: string;
  header: string[];
  output?: string;
  control?: string;
  token?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `-H 'name: value'` (curl's form), repeatable; a name given twice keeps both values. */
export function parseHeaders(list: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const h of list) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new Error(`-H must be 'name: value', got ${JSON.stringify(h)}`);
    const name = h.slice(0, colon).trim().toLowerCase();
    (out[name] ??= []).push(h.slice(colon + 1).trim());
  }
  return out;
}

function body(opts: ExplainFlags): Record<string, unknown> {
  if ((opts.from === undefined) === (opts.plaintext !== true))
    throw new Error('give exactly one of --from SERVICE-ACCOUNT and --plaintext');
  const address = opts.sourceIp !== undefined ? { address: opts.sourceIp } : {};
  const port = opts.port === undefined ? undefined : Number(opts.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new Error(`--port must be a port number, got ${JSON.stringify(opts.port)}`);
  return {
    from:
      opts.from !== undefined
        ? { serviceAccount: opts.from, namespace: opts.fromNamespace, ...address }
        : { plaintext: true, ...address },
    to: opts.to,
    method: opts.method,
    path: opts.path,
    ...(port !== undefined ? { port } : {}),
    headers: parseHeaders(opts.header),
  };
}

function renderWorkload(w: ExplainedWorkload): string[] {
  const verdict = w.allowed ? colour.green('ALLOWED') : colour.red('DENIED');
  const by =
    w.policy !== undefined
      ? ` by ${w.policy}${w.resources?.length ? ` (${w.resources.join(', ')})` : ''}`
      : '';
  const out = [
    `${w.namespace}/${w.workload} (service account ${w.serviceAccount}, mTLS ${w.mtls}): ${verdict}${by}`,
  ];
  out.push(
    `  ${w.reason}${w.policy === undefined && w.resources?.length ? ` (${w.resources.join(', ')})` : ''}`,
  );
  for (const p of w.policies) {
    const status = p.matched ? colour.green('matched') : 'no match';
    const from = p.resources.length > 0 ? ` from ${p.resources.join(', ')}` : '';
    out.push(`  ${p.action} policy ${p.name}${from}: ${status}${p.note !== undefined ? ` (${p.note})` : ''}`);
    for (const r of p.rules) {
      if (r.matched) out.push(`    rules[${r.index}]: matched`);
      else for (const m of r.mismatches) out.push(`    rules[${r.index}]: ${m}`);
      for (const i of r.ignored ?? []) out.push(`    rules[${r.index}]: ${i}`);
    }
  }
  if (w.audit.length > 0) out.push(`  audited by ${w.audit.join(', ')}`);
  for (const n of w.notes) out.push(`  note: ${n}`);
  return out;
}

function render(x: Explanation): string {
  const who = x.source.principal ?? 'a plaintext caller (no identity)';
  const port = x.request.port !== undefined ? ` port ${x.request.port}` : '';
  const lines = [
    `${who} → ${x.service.name}.${x.service.namespace}: ${x.request.method} ${x.request.path}${port}`,
    '',
  ];
  if (x.workloads.length === 0) lines.push(`no workloads behind ${x.service.name}.${x.service.namespace}`);
  for (const w of x.workloads) lines.push(...renderWorkload(w), '');
  return `${lines.join('\n').trimEnd()}\n`;
}

export function registerAuthzCommands(program: Command): void {
  const authz = program.command('authz').description('authorization: explain what policies decide');
  authz
    .command('explain')
    .description(
      'would a request be allowed? For each workload behind --to: ALLOWED or DENIED, the deciding ' +
        'policy, and for each rule the fields that did not match (exit 0 whatever the decision)',
    )
    .option('--from <service-account>', "the caller's service account (its mTLS identity)")
    .option('--from-namespace <ns>', "the caller's namespace", 'default')
    .option('--plaintext', 'a caller without mTLS (no identity)')
    .option('--source-ip <ip>', "the caller's address, for ipBlocks and source.ip conditions")
    .requiredOption('--to <service>', 'the service called: NAME or NAME.NAMESPACE')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--path <path>', 'HTTP path', '/')
    .option('--port <port>', "destination port as policies see it (default: each workload's app port)")
    .option('-H, --header <header>', "a request header, 'name: value' (repeatable)", collect, [])
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: ExplainFlags) => {
      const format = parseOutput(opts.output);
      if (format === 'wide') throw new Error('-o must be json or yaml for authz explain');
      const request = JSON.stringify(body(opts));
      const api = new ControlApi(resolveApiTarget(opts));
      const x = await api.request<Explanation>('POST', '/api/v1/authz/explain', request, 'application/json');
      process.stdout.write(format === 'json' || format === 'yaml' ? structured(x, format) : render(x));
    });
}
