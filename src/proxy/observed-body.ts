// A request body read through an observer: the layer that wraps it stands between the client's
// body and the stack below, sees every chunk (to count it, or copy its start) and changes nothing.
// Access logs and tap both are one; each says what it does with a chunk.
import type { BodySink, HeaderList, RequestBody } from './types.ts';

export abstract class ObservedBody implements RequestBody, BodySink {
  private body: RequestBody | null = null;
  private sink: BodySink | null = null;

  /** Called with every chunk of the request body on its way down; must not keep a reference. */
  protected abstract observeRequestChunk(chunk: Buffer): void;

  /** The body the stack below reads: this object, observing what passes. */
  wrap(body: RequestBody | null): RequestBody | null {
    if (body === null) return null;
    this.body = body;
    return this;
  }

  // --- RequestBody (to the stack below) and BodySink (from the client) ---
  pipe(sink: BodySink): void {
    this.sink = sink;
    this.body!.pipe(this);
  }

  resume(): void {
    this.body!.resume();
  }

  data(chunk: Buffer): boolean {
    this.observeRequestChunk(chunk);
    return this.sink!.data(chunk);
  }

  end(trailers: HeaderList | null): void {
    this.sink!.end(trailers);
  }

  error(err: Error): void {
    this.sink!.error(err);
  }
}
