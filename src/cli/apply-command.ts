// `trellis apply -f FILE|DIR|-` and `trellis delete -f FILE | KIND NAME`.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { resolveKind } from '../resources/kinds.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { structured, parseOutput } from './output.ts';

interface Result {
  kind: string;
  namespace: string;
  name: string;
  action: string;
}
interface Warning {
  message: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Expands -f arguments: files as given, directories to their .yaml/.yml/.json files (-R: recursively). */
async function inputs(paths: string[], recursive: boolean): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  for (const p of paths) {
    if (p === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
      out.push({ name: 'stdin', text: Buffer.concat(chunks).toString('utf8') });
      continue;
    }
    if ((await stat(p)).isDirectory()) {
      const entries = (await readdir(p, { withFileTypes: true })).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      const files = entries
        .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
        .map((e) => path.join(p, e.name));
      const dirs = recursive ? entries.filter((e) => e.isDirectory()).map((e) => path.join(p, e.name)) : [];
      out.push(...(await inputs([...files, ...dirs], recursive)));
      continue;
    }
    out.push({ name: p, text: await readFile(p, 'utf8') });
  }
  return out;
}

function printResults(results: Result[], output: string | undefined): void {
  const format = parseOutput(output);
  if (format === 'json' || format === 'yaml') {
    process.stdout.write(structured({ results }, format));
    return;
  }
  for (const r of results) process.stdout.write(`${r.kind.toLowerCase()}/${r.name} ${r.action}\n`);
}

export function registerApplyCommands(program: Command): void {
  program
    .command('apply')
    .description('create or update resources from YAML/JSON files (Trellis and Kubernetes kinds)')
    .requiredOption('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect, [])
    .option('-R, --recursive', 'descend into directories')
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(
      async (opts: {
        filename: string[];
        recursive?: boolean;
        output?: string;
        control?: string;
        token?: string;
      }) => {
        const api = new ControlApi(resolveApiTarget(opts));
        // Validate everything first: one bad file applies nothing.
        const files = await inputs(opts.filename, opts.recursive === true);
        for (const f of files) {
          await api.request('POST', `/api/v1/apply?dryRun=1&file=${encodeURIComponent(f.name)}`, f.text);
        }
        const all: Result[] = [];
        for (const f of files) {
          const res = await api.request<{ results: Result[]; warnings: Warning[] }>(
            'POST',
            `/api/v1/apply?file=${encodeURIComponent(f.name)}`,
            f.text,
          );
          all.push(...res.results);
          for (const w of res.warnings) process.stderr.write(`Warning: ${w.message}\n`);
        }
        printResults(all, opts.output);
      },
    );

  program
    .command('delete')
    .description('delete resources named in files (-f) or by kind and name')
    .argument('[kind]', 'resource kind, e.g. service, trafficroute')
    .argument('[name]', 'resource name')
    .option('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect, [])
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(
      async (
        kindArg: string | undefined,
        name: string | undefined,
        opts: { filename: string[]; namespace: string; output?: string; control?: string; token?: string },
      ) => {
        const api = new ControlApi(resolveApiTarget(opts));
        const all: Result[] = [];
        if (opts.filename.length > 0) {
          for (const f of await inputs(opts.filename, false)) {
            const res = await api.request<{ results: Result[] }>(
              'POST',
              `/api/v1/delete?file=${encodeURIComponent(f.name)}`,
              f.text,
            );
            all.push(...res.results);
          }
        } else {
          const kind = kindArg === undefined ? undefined : resolveKind(kindArg);
          if (kind === undefined || name === undefined) {
            throw new Error('give -f FILE, or KIND NAME (e.g. trellis delete trafficroute reviews-canary)');
          }
          const res = await api.request<{ results: Result[] }>(
            'DELETE',
            `/api/v1/resources/${kind}/${encodeURIComponent(opts.namespace)}/${encodeURIComponent(name)}`,
          );
          all.push(...res.results);
        }
        printResults(all, opts.output);
      },
    );
}
