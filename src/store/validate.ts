// Argument checks shared by both stores, so both reject the same inputs with the same codes.
import { StoreInvalidArgumentError, StoreInvalidValueError } from './errors.ts';

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '')
    throw StoreInvalidArgumentError('a key must be a non-empty string');
}

/** Values are stored as JSON text; what JSON cannot carry (undefined, functions, BigInt, cycles) is refused. */
export function encodeValue(key: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw StoreInvalidValueError(key, err instanceof Error ? err.message : String(err));
  }
  if (json === undefined) throw StoreInvalidValueError(key, `${typeof value} is not JSON`);
  return json;
}

export function isRevision(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

export function checkRevision(n: number, name: string): void {
  if (!isRevision(n)) throw StoreInvalidArgumentError(`${name} must be an integer >= 0, got ${n}`);
}

/** etcd grants whole seconds only; both stores take the same. */
export function checkLeaseTtl(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw StoreInvalidArgumentError(`a lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
  }
}
