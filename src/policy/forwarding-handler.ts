// A ResponseHandler that passes everything on; a layer that changes one callback (the response
// head, the end) extends it and overrides that one. One object per request, no closures.
import type { ProxyError } from '../errors.ts';
import type { HeaderList, ResponseController, ResponseHandler } from '../proxy/types.ts';

export class ForwardingHandler implements ResponseHandler {
  protected readonly next: ResponseHandler;

  constructor(next: ResponseHandler) {
    this.next = next;
  }

  onInformational(status: number, headers: HeaderList): void {
    this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    return this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    this.next.onResponseEnd(trailers);
  }

  onResponseError(err: ProxyError): void {
    this.next.onResponseError(err);
  }
}
