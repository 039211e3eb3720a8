import { z } from 'zod';
import { parseDuration } from './duration.ts';

/** Durations are written as Istio writes them ("250ms", "1.5s", "2m") or as milliseconds. */
export const Duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration "${v}" (write e.g. "250ms", "1s", "2m")` });
    return z.NEVER;
  }
  return ms;
});
