// Saturation throughput with wrk (closed-loop: each connection sends its next request as soon as
// the previous answer arrives). Parses wrk's text output and the line bench/wrk-done.lua adds.
import { fileURLToPath } from 'node:url';
import { spawnPinned } from './proc.ts';

const DONE_SCRIPT = fileURLToPath(new URL('./wrk-done.lua', import.meta.url));

export interface WrkResult {
  rps: number;
  requests: number;
  p50_ms: number;
  p75_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number | null;
  /** Socket errors plus non-2xx/3xx responses. */
  errors: number;
}

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  durationS: number;
  core: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "812.00us" / "1.23ms" / "2.00s" → milliseconds. */
export function parseWrkDuration(text: string): number | undefined {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const scale = UNIT_MS[m[2] as string];
  return scale === undefined ? undefined : Number((Number(m[1]) * scale).toFixed(6));
}

/** Reads wrk's output (run with --latency and bench/wrk-done.lua). */
export function parseWrkOutput(out: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!rps) throw new Error(`wrk output has no Requests/sec line:\n${out.slice(-1000)}`);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    const ms = m ? parseWrkDuration(m[1] as string) : undefined;
    if (ms === undefined) throw new Error(`wrk output has no ${p}% latency (was --latency given?)`);
    return ms;
  };
  const done = /^WRK_DONE (.*)$/m.exec(out);
  const fields = new Map<string, number>();
  for (const kv of (done?.[1] ?? '').split(' ')) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined) fields.set(k, Number(v));
  }
  const requests = fields.get('requests') ?? Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  let errors = 0;
  for (const k of ['connect', 'read', 'write', 'status', 'timeout']) errors += fields.get(k) ?? 0;
  if (!done) {
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    if (sock) errors += sock.slice(1).reduce((a, b) => a + Number(b), 0);
    errors += Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  }
  const p999us = fields.get('p999_us');
  return {
    rps: Number(rps[1]),
    requests,
    p50_ms: pct('50'),
    p75_ms: pct('75'),
    p90_ms: pct('90'),
    p99_ms: pct('99'),
    p999_ms: p999us === undefined ? null : p999us / 1000,
    errors,
  };
}

/** Runs wrk pinned to `core`; rejects when wrk fails or exceeds its duration by far. */
export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.durationS}s`,
    '--timeout',
    '5s',
    '--latency',
    '-s',
    DONE_SCRIPT,
    o.url,
  ];
  const wrk = spawnPinned(o.core, 'wrk', args);
  let out = '';
  wrk.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const limit = setTimeout(() => wrk.child.kill('SIGKILL'), (o.durationS + 15) * 1000);
  const code = await wrk.exited;
  clearTimeout(limit);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${wrk.output().slice(-500)}`);
  return parseWrkOutput(out);
}
