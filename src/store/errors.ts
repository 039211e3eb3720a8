// Store errors, each with a stable code. Callers branch on the conflict and compaction ones.
import { TrellisError } from '../errors.ts';

export class StoreError extends TrellisError {}

/** put(..., { ifRevision }) found another revision: someone else wrote first. */
export class StoreConflictError extends StoreError {
  readonly key: string;
  constructor(key: string, expected: number, actual: number) {
    const found = actual === 0 ? 'it does not exist' : `it is at revision ${actual}`;
    const wanted = expected === 0 ? 'to not exist' : `revision ${expected}`;
    super('TRELLIS_STORE_CONFLICT', `conflict on ${key}: expected ${wanted}, but ${found}`);
    this.key = key;
  }
}

/** A watch asked for history the store no longer holds: re-list, then watch from the list's revision. */
export class StoreCompactedError extends StoreError {
  readonly fromRevision: number;
  constructor(fromRevision: number, detail: string) {
    super(
      'TRELLIS_STORE_COMPACTED',
      `history after revision ${fromRevision} is no longer held (${detail}); re-list and watch again`,
    );
    this.fromRevision = fromRevision;
  }
}

export class StoreUnavailableError extends StoreError {
  constructor(message: string, cause?: unknown) {
    super('TRELLIS_STORE_UNAVAILABLE', message, { cause });
  }
}

export class StoreLeaseNotFoundError extends StoreError {
  constructor(lease: string) {
    super('TRELLIS_STORE_LEASE_NOT_FOUND', `lease ${lease} does not exist (expired or revoked)`);
  }
}

export const StoreClosedError = (): StoreError =>
  new StoreError('TRELLIS_STORE_CLOSED', 'the store is closed');

export const StoreInvalidValueError = (key: string, detail: string): StoreError =>
  new StoreError('TRELLIS_STORE_INVALID_VALUE', `value for ${key} cannot be stored as JSON: ${detail}`);

export const StoreInvalidArgumentError = (detail: string): StoreError =>
  new StoreError('TRELLIS_STORE_INVALID_ARGUMENT', detail);

/** Another process has the embedded store open; two writers would fork the revision history. */
export const StoreLockedError = (dir: string, cause?: unknown): StoreError =>
  new StoreError(
    'TRELLIS_STORE_LOCKED',
    `store ${dir} is open in another control plane; stop that one first (several control planes share etcd, not a store dir)`,
    { cause },
  );

/** Anything else the backend reported; the message says what. */
export const StoreFailedError = (message: string, cause?: unknown): StoreError =>
  new StoreError('TRELLIS_STORE_FAILED', message, { cause });
