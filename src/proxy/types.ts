// The protocol-neutral shape of one proxied exchange. Downstream adapters (HTTP/1, HTTP/2)
// turn what they read into a ProxyRequest + RequestBody and hand it to a Dispatch together with
// a ResponseHandler that writes back to the client. Upstream transports (HTTP/1 pool, HTTP/2
// session) implement Dispatch at the bottom of the stack. Layers in between are
// `(next: Dispatch) => Dispatch`, as undici's interceptors.
import type { ProxyError } from '../errors.ts';
import type { ConnectionSource } from '../tls/peer-identity.ts';

/** Flat header list: [name0, value0, name1, value1, ...]; names are lower-case. */
export type HeaderList = string[];

export interface ProxyRequest {
  method: string;
  scheme: 'http' | 'https';
  /** host[:port] from Host / :authority / absolute-form target. */
  authority: string;
  /** Origin-form target: path plus query. */
  path: string;
  /**
   * End-to-end headers only: no hop-by-hop headers, no Host, no pseudo-headers, and no
   * content-length (bodyLength carries it). Response header lists, in contrast, may carry
   * content-length: it tells the downstream the body length for its own framing.
   */
  headers: HeaderList;
  /** Protocol the client spoke. */
  protocol: 'http1' | 'http2';
  /** content-type starts with application/grpc. */
  grpc: boolean;
  /** Request body length when known (Content-Length), 0 when there is none, -1 when streamed. */
  bodyLength: number;
  /** The client asked for `Expect: 100-continue` (HTTP/1); the upstream decides. */
  expectContinue: boolean;
  /** The peer: address, and its SPIFFE ID when it came over mesh mTLS. */
  source: ConnectionSource;
  /** Name of the listener that accepted the request. */
  listener: string;
  /** performance.now() when the request head was complete. */
  startTime: number;
}

/** Where a request body goes: returns false when the receiver wants the sender to pause. */
export interface BodySink {
  data(chunk: Buffer): boolean;
  end(trailers: HeaderList | null): void;
  error(err: Error): void;
}

/** The request body, owned by the downstream connection; the upstream pulls it. */
export interface RequestBody {
  /** Starts the flow; call once. Bytes that arrived before are delivered first. */
  pipe(sink: BodySink): void;
  /** Flow control: the sink calls resume() after a data() that returned false drained. */
  resume(): void;
}

/** Receives the upstream response; implemented by each downstream adapter and wrapped by layers. */
export interface ResponseHandler {
  /** 1xx informational responses (100 Continue, 103 Early Hints). Optional to forward. */
  onInformational?(status: number, headers: HeaderList): void;
  /** Returns nothing; the handler may later call the controller's pause/resume. */
  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void;
  /** Returns false when the downstream is congested; the handler calls controller.resume() later. */
  onResponseData(chunk: Buffer): boolean;
  onResponseEnd(trailers: HeaderList | null): void;
  /** Terminal failure before or during the response. After onResponseStart, the stream is reset. */
  onResponseError(err: ProxyError): void;
}

export interface ResponseController {
  resume(): void;
  /** Stops the exchange upstream (client gone); no further callbacks. */
  abort(reason?: Error): void;
}

/** Returns a function that cancels the exchange (e.g. the client went away). */
export type Dispatch = (req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler) => Cancel;
export type Cancel = (reason?: Error) => void;
export type Layer = (next: Dispatch) => Dispatch;

export function composeLayers(layers: Layer[], bottom: Dispatch): Dispatch {
  let d = bottom;
  for (let i = layers.length - 1; i >= 0; i--) d = layers[i]!(d);
  return d;
}
