// Errors of the control plane's API and push stream, each with a stable code and the HTTP status
// the API answers it with.
import { TrellisError } from '../errors.ts';

export class ApiError extends TrellisError {
  readonly status: number;
  readonly details: unknown;
  constructor(code: string, status: number, message: string, details?: unknown) {
    super(code, message);
    this.status = status;
    this.details = details;
  }
}

export const AddressInUseError = (address: string, owner: string): ApiError =>
  new ApiError(
    'TRELLIS_ADDRESS_IN_USE',
    409,
    `${address} is already registered by workload ${owner}; stop it or pick another port`,
  );
export const NotFoundError = (what: string): ApiError =>
  new ApiError('TRELLIS_NOT_FOUND', 404, `${what} not found`);
export const UnknownKindError = (kind: string): ApiError =>
  new ApiError('TRELLIS_UNKNOWN_KIND', 400, `unknown resource kind "${kind}" (try: trellis get --help)`);
export const BodyTooLargeError = (limit: number): ApiError =>
  new ApiError('TRELLIS_BODY_TOO_LARGE', 413, `request body over ${limit} bytes`);
export const MalformedRequestError = (detail: string): ApiError =>
  new ApiError('TRELLIS_BAD_REQUEST', 400, `malformed request: ${detail}`);
export const BadStreamMessageError = (detail: string): ApiError =>
  new ApiError('TRELLIS_BAD_STREAM_MESSAGE', 400, `bad stream message: ${detail}`);
export const ProtocolMismatchError = (theirs: number, ours: number): ApiError =>
  new ApiError(
    'TRELLIS_PROTOCOL_MISMATCH',
    400,
    `proxy speaks stream protocol ${theirs}, this control plane speaks ${ours}: upgrade the older one`,
  );
