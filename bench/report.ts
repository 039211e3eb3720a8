// The result of the proxy scenario: rows of latest.json, the markdown table, machine facts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import type { LoadgenResult } from './loadgen.ts';
import type { WrkResult } from './wrk.ts';

/** One row of latest.json: the shape other tools read. Null: not measured or not applicable. */
export interface TargetRow {
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  p999_ms: number | null;
  added_p50_ms_at_1k: number | null;
  added_p99_ms_at_1k: number | null;
  added_p99_ms_at_5k: number | null;
  cpu_s_per_1k: number | null;
  rss_mb: number | null;
}

export interface Measured {
  wrk?: WrkResult;
  at1k?: LoadgenResult;
  at5k?: LoadgenResult;
  cpuSPer1k?: number;
  /** Proxy CPU µs per request during the saturation run (raw only). */
  satCpuUsPerReq?: number;
  rssMb?: number;
  errors: string[];
  warnings: string[];
}

const round = (v: number | undefined | null, digits: number): number | null =>
  v === undefined || v === null || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

export function row(m: Measured | undefined, direct: Measured | undefined, isDirect: boolean): TargetRow {
  const added = (a: number | undefined, b: number | undefined): number | null =>
    isDirect || a === undefined || b === undefined ? null : round(a - b, 3);
  return {
    rps: round(m?.wrk?.rps, 0),
    p50_ms: round(m?.wrk?.p50_ms, 3),
    p99_ms: round(m?.wrk?.p99_ms, 3),
    p999_ms: round(m?.wrk?.p999_ms, 3),
    added_p50_ms_at_1k: added(m?.at1k?.p50_ms, direct?.at1k?.p50_ms),
    added_p99_ms_at_1k: added(m?.at1k?.p99_ms, direct?.at1k?.p99_ms),
    added_p99_ms_at_5k: added(m?.at5k?.p99_ms, direct?.at5k?.p99_ms),
    cpu_s_per_1k: round(m?.cpuSPer1k, 4),
    rss_mb: round(m?.rssMb, 1),
  };
}

/**
 * The table printed and pasted into bench/README.md; ⚠ marks an error, ~ a warning. `satCpu` is
 * each target's proxy CPU µs per request at saturation (raw in latest.json): on a shared machine
 * req/s moves ±30 % between runs, CPU per request much less, so both ratios to nginx are printed.
 */
export function markdownTable(
  rows: Record<string, TargetRow>,
  errors: Record<string, string>,
  warnings: Record<string, string>,
  satCpu: Record<string, number | null> = {},
): string {
  const cell = (v: number | null): string => (v === null ? '—' : String(v));
  const lines = [
    '| target | req/s | p50 ms | p99 ms | p99.9 ms | +p50 ms @1k | +p99 ms @1k | +p99 ms @5k | CPU s/1k req | RSS MB | CPU µs/req sat. |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, r] of Object.entries(rows)) {
    const cells = [r.rps, r.p50_ms, r.p99_ms, r.p999_ms, r.added_p50_ms_at_1k, r.added_p99_ms_at_1k];
    cells.push(r.added_p99_ms_at_5k, r.cpu_s_per_1k, r.rss_mb, satCpu[name] ?? null);
    const mark = errors[name] ? ' ⚠' : warnings[name] ? ' ~' : '';
    lines.push(`| ${name}${mark} | ${cells.map(cell).join(' | ')} |`);
  }
  const versus = versusNginx(rows, satCpu);
  if (versus !== '') lines.push('', versus);
  for (const [name, e] of Object.entries(errors)) lines.push('', `⚠ ${name}: ${e}`);
  for (const [name, w] of Object.entries(warnings)) lines.push('', `~ ${name}: ${w}`);
  return lines.join('\n');
}

/** "trellis vs nginx: 0.64× the req/s, 2.02× the CPU per request", when both were measured. */
export function versusNginx(rows: Record<string, TargetRow>, satCpu: Record<string, number | null>): string {
  const [t, n] = [rows['trellis'], rows['nginx']];
  const parts: string[] = [];
  if (t?.rps && n?.rps) parts.push(`${(t.rps / n.rps).toFixed(2)}× the req/s`);
  const [tc, nc] = [satCpu['trellis'], satCpu['nginx']];
  if (tc && nc) parts.push(`${(tc / nc).toFixed(2)}× the CPU per request at saturation`);
  return parts.length === 0 ? '' : `trellis vs nginx in this run: ${parts.join(', ')}`;
}

/** First line of a shell command's output (stdout and stderr), '' when it fails. */
function firstLine(cmd: string): string {
  try {
    return execFileSync('sh', ['-c', `${cmd} 2>&1 | head -1`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(): Record<string, unknown> {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return {
    date: new Date().toISOString(),
    cpu: model ?? cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    wrk: firstLine('wrk -v'),
    nginx: firstLine('nginx -v'),
    haproxy: firstLine('haproxy -v'),
  };
}
