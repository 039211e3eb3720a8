// Printing for the CLI, kubectl-style: aligned tables by default, -o json|yaml|wide.
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export function parseOutput(value: string | undefined): OutputFormat {
  if (value === undefined || value === '') return 'table';
  if (value === 'json' || value === 'yaml' || value === 'wide') return value;
  throw new Error(`-o must be json, yaml or wide, got "${value}"`);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function structured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

const useColour = process.stdout.isTTY && process.env.NO_COLOR === undefined;
export const colour = {
  green: (s: string): string => (useColour ? `\x1b[32m${s}\x1b[0m` : s),
  red: (s: string): string => (useColour ? `\x1b[31m${s}\x1b[0m` : s),
  yellow: (s: string): string => (useColour ? `\x1b[33m${s}\x1b[0m` : s),
  bold: (s: string): string => (useColour ? `\x1b[1m${s}\x1b[0m` : s),
};
