// `trellis top`: the most frequent requests of a service right now (Linkerd's `viz top`), from its
// live tap. On a terminal the table is redrawn every second until Ctrl-C or --duration; with -o
// json|yaml, or when stdout is not a terminal, it is printed once, at the end.
import type { Command } from 'commander';
import { parseOutput, structured, table } from './output.ts';
import { resolveApiTarget } from './control-target.ts';
import { parseDurationFlag, streamTap, tapBody, tapSignal, type TapFlags } from './tap-client.ts';
import { tapOptions } from './tap-command.ts';
import { formatLatency, TopTable } from './tap-format.ts';

interface TopFlags extends TapFlags {
  output?: string;
  control?: string;
  token?: string;
}

/** Without a terminal to redraw on, a top without --duration would never print: it stops after this. */
const DEFAULT_ONCE_DURATION = '10s';

function render(top: TopTable, header: string, maxRows: number | undefined): string {
  const rows = top.sorted();
  const shown = maxRows === undefined ? rows : rows.slice(0, Math.max(1, maxRows));
  const body = table(
    ['SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'COUNT', 'BEST', 'WORST', 'LAST', 'SUCCESS'],
    shown.map((r) => [
      r.source,
      r.destination,
      r.method,
      r.path,
      String(r.count),
      formatLatency(r.bestUs),
      formatLatency(r.worstUs),
      formatLatency(r.lastUs),
      `${(r.successRate * 100).toFixed(2)}%`,
    ]),
  );
  const more = shown.length < rows.length ? `(${rows.length - shown.length} more rows)\n` : '';
  return `${header}\n\n${rows.length === 0 ? 'No requests seen yet.\n' : body}${more}`;
}

export function registerTopCommand(program: Command): void {
  tapOptions(
    program
      .command('top')
      .description('the most frequent requests of a service or workload, live, from its tap (admin token)')
      .argument('<target>', 'service/NAME, workload/NAME, or a service name'),
  )
    .option('-o, --output <format>', 'json|yaml: print the table once, at the end of --duration')
    .action(async (targetArg: string, flags: TopFlags) => {
      const format = parseOutput(flags.output);
      const live = process.stdout.isTTY === true && (format === 'table' || format === 'wide');
      const duration = flags.duration ?? (live ? undefined : DEFAULT_ONCE_DURATION);
      const body = tapBody(targetArg, { ...flags, ...(duration !== undefined ? { duration } : {}) });
      const top = new TopTable();
      let dropped = 0;
      const startedAt = Date.now();
      const header = (): string => {
        const secs = Math.round((Date.now() - startedAt) / 1000);
        return `trellis top ${targetArg} (-n ${flags.namespace}): ${top.requests} requests in ${secs}s${dropped > 0 ? `, ${dropped} not reported (past --max-rps)` : ''}`;
      };
      const { signal, dispose } = tapSignal(parseDurationFlag(duration));
      const redraw = (): void => {
        // Clear the screen, then the table, cut to the terminal's height.
        process.stdout.write(`\x1b[H\x1b[2J${render(top, header(), (process.stdout.rows || 24) - 5)}`);
      };
      const timer = live ? setInterval(redraw, 1000) : undefined;
      if (live) redraw();
      try {
        await streamTap(
          resolveApiTarget(flags),
          body,
          (line) => {
            if (line.type === 'dropped') dropped += line.requests;
            else if (line.type === 'req' || line.type === 'end') top.add(line);
          },
          signal,
        );
      } finally {
        clearInterval(timer);
        dispose();
      }
      if (live) return redraw();
      if (format === 'json' || format === 'yaml') {
        process.stdout.write(
          structured({ items: top.sorted(), requests: top.requests, notReported: dropped }, format),
        );
      } else process.stdout.write(render(top, header(), undefined));
    });
}
