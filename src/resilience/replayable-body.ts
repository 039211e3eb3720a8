// A request body that can be sent more than once. The first try streams it live while a copy is
// kept, up to `limit` bytes; a later try (retry or hedge) replays the copy and then continues
// live if the body is still arriving. Past the limit the body is no longer replayable: further
// tries are refused and the copy shrinks to what the live reader has not consumed yet.
import type { BodySink, HeaderList, RequestBody } from '../proxy/types.ts';

export class ReplayableBody implements BodySink {
  private readonly source: RequestBody;
  private readonly limit: number;
  /** Copied chunks; chunks[0] is chunk number `base` of the body. */
  private chunks: Buffer[] = [];
  private base = 0;
  private bytes = 0;
  /** No more readers: over the limit, failed, or sealed because a try's answer was forwarded. */
  private closed = false;
  private piped = false;
  private sourcePaused = false;
  private readers: BodyReader[] = [];
  ended = false;
  trailers: HeaderList | null = null;
  failure: Error | null = null;

  constructor(source: RequestBody, limit: number) {
    this.source = source;
    this.limit = limit;
  }

  /** Another try may still send the body from its first byte. */
  get replayable(): boolean {
    return !this.closed;
  }

  /** The whole body is in hand (ended within the limit): any number of tries can read it now. */
  get complete(): boolean {
    return this.ended && !this.closed;
  }

  /** Number of chunks received so far (replayed or not). */
  get received(): number {
    return this.base + this.chunks.length;
  }

  /** A RequestBody for one try; null once the body cannot be sent from the start any more. */
  reader(): BodyReader | null {
    return this.closed ? null : new BodyReader(this);
  }

  /** No later try will need the copy: keep only what live readers have not consumed. */
  seal(): void {
    this.closed = true;
    this.trim();
  }

  // ---- BodySink: the source flows in here ----

  data(chunk: Buffer): boolean {
    if (this.closed && this.readers.length === 0) return true; // nobody will ever read it
    // Copied: the downstream may reuse its read buffer once this call returns.
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    if (!this.closed && this.bytes > this.limit) this.closed = true;
    for (const r of this.readers.slice()) r.flush();
    if (this.closed) this.trim();
    if (this.readers.some(isBlocked)) {
      this.sourcePaused = true;
      return false;
    }
    return true;
  }

  end(trailers: HeaderList | null): void {
    this.ended = true;
    this.trailers = trailers;
    for (const r of this.readers.slice()) r.flush();
  }

  error(err: Error): void {
    this.failure = err;
    this.closed = true;
    for (const r of this.readers.slice()) r.flush();
  }

  // ---- for BodyReader ----

  chunkAt(index: number): Buffer | undefined {
    return this.chunks[index - this.base];
  }

  get firstIndex(): number {
    return this.base;
  }

  attach(reader: BodyReader): void {
    this.readers.push(reader);
    if (this.piped) return;
    this.piped = true;
    this.source.pipe(this);
  }

  detach(reader: BodyReader): void {
    const i = this.readers.indexOf(reader);
    if (i < 0) return;
    this.readers.splice(i, 1);
    if (this.closed) this.trim();
    this.maybeResumeSource();
  }

  maybeResumeSource(): void {
    if (!this.sourcePaused || this.readers.some(isBlocked)) return;
    this.sourcePaused = false;
    this.source.resume();
  }

  /** Drops chunks every live reader is past (only once no new reader can start from zero). */
  private trim(): void {
    let min = this.received;
    for (const r of this.readers) if (r.position < min) min = r.position;
    const drop = min - this.base;
    if (drop <= 0) return;
    this.chunks = this.chunks.slice(drop);
    this.base = min;
  }
}

function isBlocked(r: BodyReader): boolean {
  return r.blocked;
}

/** One try's view of the body: replays the copy from the start, then follows the live source. */
export class BodyReader implements RequestBody {
  private readonly body: ReplayableBody;
  private sink: BodySink | null = null;
  private finished = false;
  private detached = false;
  position = 0;
  /** The sink's last data() returned false; it calls resume() when it drained. */
  blocked = false;

  constructor(body: ReplayableBody) {
    this.body = body;
  }

  pipe(sink: BodySink): void {
    if (this.detached) return;
    const again = this.sink !== null;
    this.sink = sink;
    this.position = this.body.firstIndex;
    this.finished = false;
    this.blocked = false;
    if (again) {
      // A transport that re-sends on a fresh connection: only possible while nothing was dropped.
      if (this.body.firstIndex > 0) this.fail(new Error('request body is no longer replayable'));
      else this.flush();
      return;
    }
    this.body.attach(this);
    this.flush();
  }

  resume(): void {
    if (!this.blocked || this.detached) return;
    this.blocked = false;
    this.flush();
    this.body.maybeResumeSource();
  }

  /** The try is over: the reader stops and no longer holds the source back. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.sink = null;
    this.body.detach(this);
  }

  /** Delivers what the sink has not seen yet, as far as it accepts. */
  flush(): void {
    const body = this.body;
    while (!this.blocked && !this.finished) {
      const sink = this.sink;
      if (sink === null || this.detached) return;
      const chunk = body.chunkAt(this.position);
      if (chunk !== undefined) {
        this.position++;
        if (!sink.data(chunk)) this.blocked = true;
        continue;
      }
      if (body.failure !== null) this.fail(body.failure);
      else if (body.ended) {
        this.finished = true;
        sink.end(body.trailers);
      }
      return;
    }
  }

  private fail(err: Error): void {
    const sink = this.sink;
    this.finished = true;
    sink?.error(err);
  }
}
