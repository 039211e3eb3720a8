// One try of a request (first try, retry or hedge): the ResponseHandler the transport answers,
// relaying each callback to the request's AttemptExchange tagged with the try, so that one
// exchange can tell its tries apart. It also holds what must be released when the try ends.
import type { ProxyError } from '../errors.ts';
import type { Cancel, HeaderList, ResponseController, ResponseHandler } from '../proxy/types.ts';
import type { BodyReader } from './replayable-body.ts';

export interface TryOwner {
  informational(t: Try, status: number, headers: HeaderList): void;
  head(t: Try, status: number, headers: HeaderList, controller: ResponseController): void;
  data(t: Try, chunk: Buffer): boolean;
  end(t: Try, trailers: HeaderList | null): void;
  failed(t: Try, err: ProxyError): void;
  timedOut(t: Try, ms: number): void;
}

export const ALIVE = 0;
export const DEAD = 1;

/** One try: relays the transport's callbacks to its exchange, tagged with itself. */
export class Try implements ResponseHandler {
  readonly owner: TryOwner;
  readonly start = performance.now();
  state = ALIVE;
  cancel: Cancel | null = null;
  timer: NodeJS.Timeout | null = null;
  reader: BodyReader | null = null;

  constructor(owner: TryOwner) {
    this.owner = owner;
  }
  onInformational(status: number, headers: HeaderList): void {
    this.owner.informational(this, status, headers);
  }
  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.owner.head(this, status, headers, controller);
  }
  onResponseData(chunk: Buffer): boolean {
    return this.owner.data(this, chunk);
  }
  onResponseEnd(trailers: HeaderList | null): void {
    this.owner.end(this, trailers);
  }
  onResponseError(err: ProxyError): void {
    this.owner.failed(this, err);
  }
}

/** setTimeout callback of the per-try timeout (shared, so a try costs no closure). */
export function onTryTimeout(t: Try, ms: number): void {
  t.owner.timedOut(t, ms);
}
