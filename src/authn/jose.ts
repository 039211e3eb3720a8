// jose, loaded when the first JWT rule is compiled: only proxies with a RequestAuthentication
// verify tokens, and the library would otherwise sit in every proxy's memory.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let loaded: typeof import('jose') | undefined;

export function jose(): typeof import('jose') {
  loaded ??= require('jose') as typeof import('jose');
  return loaded;
}
