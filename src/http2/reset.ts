// Resetting a stream for real. node:http2's stream.close(code) first ends the writable side
// (an END_STREAM that makes a truncated message look complete) and only then sends RST_STREAM.
// stream.destroy(err) resets at once: INTERNAL_ERROR for an ordinary error, CANCEL for
// node's internal AbortError, the class behind the documented `signal` request option.
import type { Http2Stream } from 'node:http2';
import { PassThrough, addAbortSignal } from 'node:stream';

function internalAbortError(): Error {
  const probe = new PassThrough();
  probe.on('error', () => {});
  addAbortSignal(AbortSignal.abort(), probe);
  const err: unknown = probe.errored;
  return err instanceof Error && err.name === 'AbortError' ? err : new Error('stream cancelled by the proxy');
}

const CANCEL = internalAbortError();
const INTERNAL = new Error('stream reset by the proxy');

/** RST_STREAM CANCEL, no END_STREAM before it. */
export function cancelStream(stream: Http2Stream): void {
  if (!stream.destroyed) stream.destroy(CANCEL);
}

/** RST_STREAM INTERNAL_ERROR, no END_STREAM before it. */
export function resetStream(stream: Http2Stream): void {
  if (!stream.destroyed) stream.destroy(INTERNAL);
}
