// re2js (linear-time regular expressions), loaded at the first pattern compiled: most proxies'
// routes and policies have none, and the library's ~250 KB of source would sit in every one.
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

const require = createRequire(import.meta.url);
let loaded: typeof RE2JS | undefined;

export function re2(): typeof RE2JS {
  loaded ??= (require('re2js') as typeof import('re2js')).RE2JS;
  return loaded;
}
