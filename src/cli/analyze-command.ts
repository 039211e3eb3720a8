// `trellis analyze [-f FILE...]`: what is wrong with the mesh's config, before it bites. Reads
// every resource the control plane stores (all kinds, all namespaces), lays the -f files over
// them (as `trellis apply` would), and reports; with --local, the files alone. Exit code 1 when
// a finding at or above --failure-threshold (default: error) was found.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { analyzeResources, type Finding } from '../dialects/analyze.ts';
import { formatDiagnostic, type Diagnostic } from '../errors.ts';
import { allKinds, resourceKey, type AnyResource } from '../resources/kinds.ts';
import { parseResources } from '../resources/parse.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured } from './output.ts';

interface AnalyzeOptions {
  filename: string[];
  recursive?: boolean;
  local?: boolean;
  output?: string;
  control?: string;
  token?: string;
  failureThreshold: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

async function readInputs(
  paths: readonly string[],
  recursive: boolean,
): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  for (const p of paths) {
    if (p === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
      out.push({ name: 'stdin', text: Buffer.concat(chunks).toString('utf8') });
    } else if ((await stat(p)).isDirectory()) {
      const entries = (await readdir(p, { withFileTypes: true })).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      const files = entries
        .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
        .map((e) => path.join(p, e.name));
      const dirs = recursive ? entries.filter((e) => e.isDirectory()).map((e) => path.join(p, e.name)) : [];
      out.push(...(await readInputs([...files, ...dirs], recursive)));
    } else out.push({ name: p, text: await readFile(p, 'utf8') });
  }
  return out;
}

/** Every stored resource, read back through the schemas (the API's JSON is input like any other). */
async function storedResources(api: ControlApi): Promise<AnyResource[]> {
  const items: unknown[] = [];
  for (const kind of allKinds()) {
    const res = await api.request<{ items: unknown[] }>('GET', `/api/v1/resources/${kind}?namespace=`);
    items.push(...res.items);
  }
  return parseResources(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), 'control plane');
}

function print(findings: Finding[]): void {
  for (const f of findings) {
    const label = f.severity === 'error' ? colour.red('Error') : colour.yellow('Warning');
    const [, kind, ns, name] = f.resource.split('/');
    const where = f.resource === '' ? f.path : `${kind} ${ns}/${name}${f.path === '' ? '' : ` ${f.path}`}`;
    process.stdout.write(`${label} [${f.code}] (${where}) ${f.message}\n`);
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (findings.length === 0) process.stdout.write(colour.green('✔ No problems found.\n'));
  else process.stdout.write(`${errors} error(s), ${findings.length - errors} warning(s)\n`);
}

export function registerAnalyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description(
      'report problems in the mesh config (routes to missing subsets or services, weights, shadowed routes, ...)',
    )
    .option(
      '-f, --filename <path>',
      'also analyze these files, as if applied (repeatable; - for stdin)',
      collect,
      [],
    )
    .option('-R, --recursive', 'descend into directories')
    .option('--local', 'analyze the files only, without the control plane')
    .option(
      '--failure-threshold <severity>',
      'exit 1 on findings of this severity or worse: error|warning',
      'error',
    )
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: AnalyzeOptions) => {
      if (opts.failureThreshold !== 'error' && opts.failureThreshold !== 'warning')
        throw new Error(`--failure-threshold must be error or warning, got "${opts.failureThreshold}"`);
      const format = parseOutput(opts.output);
      const byKey = new Map<string, AnyResource>();
      if (opts.local !== true) {
        for (const r of await storedResources(new ControlApi(resolveApiTarget(opts))))
          byKey.set(resourceKey(r), r);
      }
      const unknown: Diagnostic[] = [];
      for (const f of await readInputs(opts.filename, opts.recursive === true))
        for (const r of parseResources(f.text, f.name, { warnings: unknown })) byKey.set(resourceKey(r), r);
      const findings: Finding[] = [
        ...unknown.map((d): Finding => ({
          severity: 'warning',
          code: 'unknown-field',
          resource: '',
          path: `${d.file}:${d.line}:${d.column}`,
          message: formatDiagnostic(d).slice(`${d.file}:${d.line}:${d.column}: `.length),
        })),
        ...analyzeResources([...byKey.values()]),
      ];
      if (format === 'json' || format === 'yaml') process.stdout.write(structured({ findings }, format));
      else print(findings);
      const failing = findings.some((f) => f.severity === 'error' || opts.failureThreshold === 'warning');
      if (failing) process.exitCode = 1;
    });
}
