// etcd3's errors mapped to store errors with stable codes and messages that say what to do.
import {
  ClientClosedError,
  EtcdLeaseInvalidError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
} from 'etcd3';
import {
  StoreClosedError,
  StoreError,
  StoreFailedError,
  StoreLeaseNotFoundError,
  StoreUnavailableError,
} from './errors.ts';

export function unreachable(endpoints: string[], cause?: unknown): StoreUnavailableError {
  const detail = cause instanceof Error ? ` (${cause.message})` : '';
  return new StoreUnavailableError(
    `cannot reach etcd at ${endpoints.join(', ')} — is it running?${detail}`,
    cause,
  );
}

function isUnreachable(err: unknown): boolean {
  return (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    err instanceof GRPCCancelledError ||
    // cockatiel's circuit breaker (inside etcd3) refuses calls for a while after repeated failures.
    (typeof err === 'object' &&
      err !== null &&
      'isBrokenCircuitError' in err &&
      err.isBrokenCircuitError === true)
  );
}

/** `what` names the operation for the message, e.g. "put foo". */
export function toStoreError(err: unknown, endpoints: string[], what: string, lease?: string): StoreError {
  if (err instanceof StoreError) return err;
  if (isUnreachable(err)) return unreachable(endpoints, err);
  if (err instanceof EtcdLeaseInvalidError && lease !== undefined) return new StoreLeaseNotFoundError(lease);
  if (err instanceof ClientClosedError) return StoreClosedError();
  const message = err instanceof Error ? err.message : String(err);
  return StoreFailedError(`etcd ${what} failed: ${message}`, err);
}

export function isCompactedError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision has been compacted');
}
