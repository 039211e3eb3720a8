// Patterns of other meshes are RE2 (Envoy's safe_regex), as the proxy's matchers are: checked
// when applied, so a bad one is refused with its position instead of making proxies refuse config.
import { z } from 'zod';
import { re2 } from '../../route/re2.ts';

export const Re2Pattern = z.string().superRefine((pattern, ctx) => {
  try {
    re2().compile(pattern);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid RE2 pattern: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
});

/** A literal string as an RE2 pattern. */
export function quoteRe2(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`);
}
