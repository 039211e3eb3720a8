// `trellis history`, `trellis diff REV [REV]`, `trellis rollback REV`: the config's past, and a
// one-step way back to any point of it.
import type { Command } from 'commander';
import type { HistoryEntry, ResourceDiff } from '../control/history.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured, table } from './output.ts';

type Summary = Omit<HistoryEntry, 'changes'> & { changes: { key: string; change: string }[] };

const shortKey = (key: string): string => key.replace(/^resources\//, '');

function colourPatch(patch: string): string {
  return patch
    .split('\n')
    .map((l) =>
      l.startsWith('+') && !l.startsWith('+++')
        ? colour.green(l)
        : l.startsWith('-') && !l.startsWith('---')
          ? colour.red(l)
          : l,
    )
    .join('\n');
}

export function registerHistoryCommands(program: Command): void {
  program
    .command('history')
    .description('config changes made through the API, oldest first, with author and what they touched')
    .option('-o, --output <format>', 'json|yaml|wide')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: { output?: string; control?: string; token?: string }) => {
      const api = new ControlApi(resolveApiTarget(opts));
      const { items } = await api.request<{ items: Summary[] }>('GET', '/api/v1/history');
      const format = parseOutput(opts.output);
      if (format === 'json' || format === 'yaml')
        return void process.stdout.write(structured({ items }, format));
      if (items.length === 0) return void process.stderr.write('No changes recorded yet.\n');
      const rows = items.map((e) => [
        String(e.revision),
        e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
        e.author,
        e.action,
        e.source,
        format === 'wide'
          ? e.changes.map((c) => `${c.change} ${shortKey(c.key)}`).join(', ')
          : `${e.changes.length} resource${e.changes.length === 1 ? '' : 's'}`,
      ]);
      process.stdout.write(table(['REVISION', 'TIME', 'AUTHOR', 'ACTION', 'SOURCE', 'CHANGES'], rows));
    });

  program
    .command('diff')
    .description('what changed between two revisions of the config (one revision: from it to now)')
    .argument('<from>', 'revision (see trellis history)')
    .argument('[to]', 'revision; default: now')
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(
      async (
        from: string,
        to: string | undefined,
        opts: { output?: string; control?: string; token?: string },
      ) => {
        const api = new ControlApi(resolveApiTarget(opts));
        const q = `from=${encodeURIComponent(from)}${to === undefined ? '' : `&to=${encodeURIComponent(to)}`}`;
        const { diffs } = await api.request<{ diffs: ResourceDiff[] }>('GET', `/api/v1/diff?${q}`);
        const format = parseOutput(opts.output);
        if (format === 'json' || format === 'yaml')
          return void process.stdout.write(structured({ diffs }, format));
        if (diffs.length === 0) return void process.stderr.write('No differences.\n');
        for (const d of diffs) process.stdout.write(`${colourPatch(d.patch)}\n`);
      },
    );

  program
    .command('rollback')
    .description('restore the config as it was right after a revision (recorded as a new change)')
    .argument('<revision>', 'revision (see trellis history)')
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (revision: string, opts: { output?: string; control?: string; token?: string }) => {
      const api = new ControlApi(resolveApiTarget(opts));
      const { entry } = await api.request<{ entry: HistoryEntry | null }>(
        'POST',
        `/api/v1/rollback?to=${encodeURIComponent(revision)}`,
      );
      const format = parseOutput(opts.output);
      if (format === 'json' || format === 'yaml')
        return void process.stdout.write(structured({ entry }, format));
      if (entry === null)
        return void process.stdout.write(`Already as at revision ${revision}; nothing to do.\n`);
      for (const c of entry.changes) {
        const what = c.before === null ? 'recreated' : c.after === null ? 'deleted' : 'restored';
        process.stdout.write(`${shortKey(c.key)} ${what}\n`);
      }
      process.stdout.write(`Rolled back to revision ${revision} (recorded as revision ${entry.revision}).\n`);
    });
}
