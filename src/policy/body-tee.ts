// A request body read once and delivered twice: to the main request, which drives the flow
// (its backpressure pauses the client, as without a mirror), and to mirror branches, which never
// slow it down. A branch whose receiver is slower queues copies of the bytes; once it is more than
// `limit` bytes behind it gives up (the mirror is aborted) rather than hold the client back or
// buffer without bound. Nothing flows until the main request pipes the body.
import type { BodySink, HeaderList, RequestBody } from '../proxy/types.ts';

/** How far (bytes) a mirror may fall behind the main request before it is aborted. */
export const MIRROR_BUFFER_LIMIT = 1024 * 1024;

export class MirrorBranch implements RequestBody {
  private readonly limit: number;
  private readonly onOverflow: () => void;
  private sink: BodySink | null = null;
  private readonly queue: Buffer[] = [];
  private head = 0;
  private queued = 0;
  private paused = false;
  private ended = false;
  private trailers: HeaderList | null = null;
  private failure: Error | null = null;
  /** Overflowed or abandoned: bytes are dropped. */
  dead = false;

  constructor(limit: number, onOverflow: () => void) {
    this.limit = limit;
    this.onOverflow = onOverflow;
  }

  // ---- RequestBody: the mirror's upstream pulls ----
  pipe(sink: BodySink): void {
    if (this.sink !== null || this.dead) return;
    this.sink = sink;
    this.flush();
  }

  resume(): void {
    this.paused = false;
    this.flush();
  }

  // ---- fed by the tee ----
  push(chunk: Buffer): void {
    if (this.dead || this.ended) return;
    const sink = this.sink;
    if (sink !== null && !this.paused && this.head === this.queue.length) {
      this.paused = !sink.data(chunk);
      return;
    }
    this.queued += chunk.length;
    if (this.queued > this.limit) {
      this.drop();
      this.onOverflow();
      return;
    }
    // A copy: the main side may reuse or release the chunk once its own write is done.
    this.queue.push(Buffer.from(chunk));
  }

  finish(trailers: HeaderList | null): void {
    if (this.dead || this.ended) return;
    this.ended = true;
    this.trailers = trailers;
    this.flush();
  }

  fail(err: Error): void {
    if (this.dead || this.ended) return;
    this.ended = true;
    this.failure = err;
    this.flush();
  }

  /** Stops delivering and frees what was queued. */
  drop(): void {
    this.dead = true;
    this.queue.length = 0;
    this.head = 0;
    this.queued = 0;
  }

  private flush(): void {
    const sink = this.sink;
    if (sink === null || this.dead) return;
    const queue = this.queue;
    while (this.head < queue.length && !this.paused) {
      const chunk = queue[this.head]!;
      queue[this.head++] = EMPTY;
      this.queued -= chunk.length;
      this.paused = !sink.data(chunk);
    }
    if (this.head === queue.length) {
      queue.length = 0;
      this.head = 0;
      if (!this.ended) return;
      this.dead = true; // delivered in full: nothing more to do
      if (this.failure !== null) sink.error(this.failure);
      else sink.end(this.trailers);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** The main request's view of the body; tees every chunk into the branches. */
export class BodyTee implements RequestBody, BodySink {
  private readonly source: RequestBody;
  private readonly branches: MirrorBranch[] = [];
  private sink: BodySink | null = null;

  constructor(source: RequestBody) {
    this.source = source;
  }

  /** A branch for one mirror; create every branch before the main request can pipe. */
  branch(limit: number, onOverflow: () => void): MirrorBranch {
    const b = new MirrorBranch(limit, onOverflow);
    this.branches.push(b);
    return b;
  }

  // ---- RequestBody: the main upstream pulls ----
  pipe(sink: BodySink): void {
    if (this.sink !== null) throw new Error('request body piped twice');
    this.sink = sink;
    this.source.pipe(this);
  }

  resume(): void {
    this.source.resume();
  }

  // ---- BodySink: the client's bytes arrive ----
  data(chunk: Buffer): boolean {
    const ok = this.sink!.data(chunk);
    const branches = this.branches;
    for (let i = 0; i < branches.length; i++) branches[i]!.push(chunk);
    // Only the main request's backpressure reaches the client.
    return ok;
  }

  end(trailers: HeaderList | null): void {
    const branches = this.branches;
    for (let i = 0; i < branches.length; i++) branches[i]!.finish(trailers);
    this.sink!.end(trailers);
  }

  error(err: Error): void {
    const branches = this.branches;
    for (let i = 0; i < branches.length; i++) branches[i]!.fail(err);
    this.sink!.error(err);
  }
}
