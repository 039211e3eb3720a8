// How numbers read on screen, as `trellis stat` prints them.
import type { Golden } from './types.ts';

export type Health = 'good' | 'warn' | 'bad' | 'idle';

/** Success rate thresholds: Linkerd's viz colours (≥ 99.5 % good, ≥ 95 % warning). */
export function healthOf(g: Golden | null | undefined): Health {
  if (g === null || g === undefined || g.successRate === null) return 'idle';
  if (g.successRate >= 0.995) return 'good';
  if (g.successRate >= 0.95) return 'warn';
  return 'bad';
}

export function rps(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return v >= 100 ? `${v.toFixed(0)}` : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function percent(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return `${(v * 100).toFixed(v >= 0.9995 ? 0 : 2)}%`;
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(2)} ms`;
}

export function bytes(v: number): string {
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

/** "in 23h 10m", "3m ago". */
export function relative(iso: string, now = Date.now()): string {
  const d = Date.parse(iso) - now;
  const abs = Math.abs(d);
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = Math.floor((abs % 60_000) / 1000);
  const text = h >= 48 ? `${Math.floor(h / 24)}d` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}
