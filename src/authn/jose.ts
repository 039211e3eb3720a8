// jose, loaded when the first JWT rule is compiled: only proxies with a RequestAuthentication
// verify tokens, and the library would otherwise sit in every proxy's memory.
import { lazyModule } from '../lazy-module.ts';

export const jose = lazyModule<typeof import('jose')>('jose');
