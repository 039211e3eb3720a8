// Objects whose unknown fields are errors, not warnings. Elsewhere a dialect's unknown field is
// warned about and dropped; in a security policy dropping a field changes who is let in (a
// misspelt `selector` makes a policy namespace-wide, a dropped source field widens an ALLOW
// rule), so it is refused instead, as `kubectl apply` with strict field validation does.
import { z } from 'zod';

export function closedObject<S extends z.core.$ZodLooseShape>(shape: S) {
  const strict = z.strictObject(shape);
  const known = new Set(Object.keys(shape));
  return z
    .looseObject(shape)
    .superRefine((value, ctx) => {
      for (const key of Object.keys(value)) {
        if (known.has(key)) continue;
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `unknown field "${key}": refused, as ignoring it in a security policy would change who is allowed`,
        });
      }
    })
    .transform((value) => {
      // The known fields only, re-read by the strict shape so the output type is exact.
      const kept: Record<string, unknown> = {};
      for (const key of known) if (value[key] !== undefined) kept[key] = value[key];
      return strict.parse(kept);
    });
}
