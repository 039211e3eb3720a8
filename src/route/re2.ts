// re2js (linear-time regular expressions), loaded at the first pattern compiled: most proxies'
// routes and policies have none, and the library's ~250 KB of source would sit in every one.
import type { RE2JS } from 're2js';
import { lazyModule } from '../lazy-module.ts';

const re2js = lazyModule<typeof import('re2js')>('re2js');

export function re2(): typeof RE2JS {
  return re2js().RE2JS;
}
