// Durations as the other meshes write them: Go's time.ParseDuration syntax ("1h30m", "1.5s",
// "250ms", "10us"), which covers protobuf JSON durations ("0.5s") and Gateway API's GEP-2257
// durations ("1h", "10s500ms"). The internal model counts milliseconds.
import { z } from 'zod';

const UNIT_MS: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 0.000_001,
};

/** Milliseconds, or undefined when `text` is not a Go duration. Negative durations are refused. */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;
  let total = 0;
  let at = 0;
  for (let i = 0; i < 32 && at < s.length; i++) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = part.lastIndex;
  }
  if (at !== s.length || s.length === 0) return undefined;
  // Sub-microsecond precision means nothing to a timer; keep the numbers readable.
  return Math.round(total * 1000) / 1000;
}

/**
 * A duration string, in milliseconds. A number is taken as milliseconds already: the store keeps
 * what parsing produced, and reading it back must give the same resource.
 */
export const GoDuration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseGoDuration(v);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid duration "${v}" (write e.g. "250ms", "1.5s", "1m30s")`,
    });
    return z.NEVER;
  }
  return ms;
});
