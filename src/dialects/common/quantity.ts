// Kubernetes quantities, as SMI v1alpha1 and Linkerd write traffic weights ("500m", "1", "0.25").
import { z } from 'zod';

const SUFFIX: Readonly<Record<string, number>> = { '': 1, m: 0.001, k: 1e3, M: 1e6, G: 1e9 };

export function parseQuantity(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(m|k|M|G)?$/.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}

/** A weight written as a number or a quantity string. */
export const Weight = z.union([z.number().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const q = parseQuantity(v);
  if (q === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid weight "${v}" (a number, or a quantity like "500m")` });
    return z.NEVER;
  }
  return q;
});

/**
 * Relative weights as the model's integers (0..1,000,000), in proportion: fractions are scaled up
 * by 1000 (milli-units), and too large a total is scaled down; a positive weight stays positive.
 */
export function integerWeights(weights: readonly number[]): number[] {
  const scale = weights.every((w) => Number.isInteger(w)) ? 1 : 1000;
  const scaled = weights.map((w) => w * scale);
  const max = Math.max(0, ...scaled);
  const down = max > 1_000_000 ? 1_000_000 / max : 1;
  return scaled.map((w) => (w === 0 ? 0 : Math.max(1, Math.round(w * down))));
}
