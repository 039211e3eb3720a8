// A package loaded at its first use instead of at start-up: libraries only some configs need
// (re2js for regexes, jose for JWT rules, yaml for config files) stay out of the memory of a proxy
// that never uses them (bench/README.md, "What a proxy loads"). Synchronous: require() loads
// CommonJS and, in Node 24, ES modules without top-level await.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A getter that loads `specifier` on its first call and returns the same module ever after. */
export function lazyModule<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(specifier) as T);
}
