// Writes one upstream response to an HTTP/1 client, choosing the framing the client can read.
import type { Socket } from 'node:net';
import { errorResponseHeaders, type ProxyError } from '../errors.ts';
import type { HeaderList } from '../proxy/types.ts';
import { chunkHeader, headLength, serializeHeaders, statusLine, writeHead } from './headers.ts';
import { deferUntilParsed, type AfterParse } from './llhttp.ts';

export const enumFraming = { LENGTH: 0, CHUNKED: 1, CLOSE: 2, NONE: 3 } as const;
type Framing = (typeof enumFraming)[keyof typeof enumFraming];

/** Up to this size the first body chunk is copied behind the head: one write(), no writev. */
const JOIN_LIMIT = 16 * 1024;

function flushPending(w: ResponseWriter): void {
  w.flushHead();
}

export interface ResponseHeadOptions {
  /** Client spoke HTTP/1.0: no chunked coding. */
  http10: boolean;
  /** HEAD request: headers only. */
  head: boolean;
  /** The connection closes after this response. */
  close: boolean;
}

export class ResponseWriter implements AfterParse {
  private readonly socket: Socket;
  framing: Framing = enumFraming.NONE;
  started = false;
  /**
   * The head waits for the first body bytes (usually parsed from the same upstream read) so both
   * leave in one write. Once that read is parsed (or a tick later, when no parser runs: an HTTP/2
   * upstream) it goes alone: the body may take its time. Kept in parts, written in place.
   */
  private pendingHeaders: HeaderList | null = null;
  private pendingStatusLine = '';
  /** The lines the proxy adds (framing, connection) and the blank line. */
  private pendingLast = '';

  constructor(socket: Socket) {
    this.socket = socket;
  }

  reset(): void {
    this.started = false;
    this.framing = enumFraming.NONE;
    this.pendingHeaders = null;
  }

  writeHead(status: number, headers: HeaderList, o: ResponseHeadOptions): void {
    this.started = true;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') hasLength = true;
    let last = '';
    if (o.head || status === 204 || status === 304) {
      this.framing = enumFraming.NONE;
    } else if (hasLength) {
      this.framing = enumFraming.LENGTH;
    } else if (o.http10) {
      this.framing = enumFraming.CLOSE;
    } else {
      this.framing = enumFraming.CHUNKED;
      last = 'transfer-encoding: chunked\r\n';
    }
    if (o.close || this.framing === enumFraming.CLOSE) last += 'connection: close\r\n';
    else if (o.http10) last += 'connection: keep-alive\r\n';
    this.pendingStatusLine = statusLine(status);
    this.pendingHeaders = headers;
    this.pendingLast = last === '' ? '\r\n' : last + '\r\n';
    if (!deferUntilParsed(this)) process.nextTick(flushPending, this);
  }

  afterParse(): void {
    this.flushHead();
  }

  /** Writes the head if it is still waiting for body bytes. */
  flushHead(): void {
    if (this.pendingHeaders === null) return;
    if (this.socket.destroyed) this.pendingHeaders = null;
    else this.socket.write(this.takeHead(0, ''));
  }

  /** The pending head with `room` bytes left after it (the caller writes those), `after` behind it. */
  private takeHead(room: number, after: string): Buffer {
    const headers = this.pendingHeaders!;
    this.pendingHeaders = null;
    const first = this.pendingStatusLine;
    const last = this.pendingLast + after;
    const out = Buffer.allocUnsafe(headLength(first, headers, last) + room);
    writeHead(out, 0, first, headers, last);
    return out;
  }

  writeInformational(status: number, headers: HeaderList): void {
    this.socket.write(statusLine(status) + serializeHeaders(headers) + '\r\n', 'latin1');
  }

  /** Returns false when the client is congested. */
  writeData(chunk: Buffer): boolean {
    if (this.framing === enumFraming.NONE || chunk.length === 0) return true;
    if (this.framing === enumFraming.CHUNKED)
      return this.writeFramed(chunkHeader(chunk.length), chunk, '\r\n');
    return this.pendingHeaders === null ? this.socket.write(chunk) : this.writeFramed('', chunk, '');
  }

  writeEnd(trailers: HeaderList | null): void {
    let tail = '';
    if (this.framing === enumFraming.CHUNKED) {
      tail = '0\r\n' + (trailers ? serializeHeaders(trailers) : '') + '\r\n';
    }
    if (this.pendingHeaders !== null) this.socket.write(this.takeHead(0, tail));
    else if (tail !== '') this.socket.write(tail, 'latin1');
  }

  /** The pending head (if any), `before`, chunk and `after` (latin1 framing around body bytes) in one write. */
  private writeFramed(before: string, chunk: Buffer, after: string): boolean {
    const socket = this.socket;
    if (chunk.length > JOIN_LIMIT) {
      // Too large to copy: corked writes, which leave in one writev.
      socket.cork();
      if (this.pendingHeaders !== null) socket.write(this.takeHead(0, before));
      else if (before !== '') socket.write(before, 'latin1');
      let ok = socket.write(chunk);
      if (after !== '') ok = socket.write(after, 'latin1');
      socket.uncork();
      return ok;
    }
    const room = chunk.length + after.length;
    let out: Buffer;
    let at: number;
    if (this.pendingHeaders !== null) {
      out = this.takeHead(room, before);
      at = out.length - room;
    } else {
      out = Buffer.allocUnsafe(before.length + room);
      at = out.latin1Write(before, 0);
    }
    at += chunk.copy(out, at);
    if (after !== '') out.latin1Write(after, at);
    return socket.write(out);
  }

  /** A short plain-text answer generated by the proxy itself. */
  writeError(err: ProxyError, o: ResponseHeadOptions): void {
    const body = o.head ? '' : `${err.message}\n`;
    this.started = true;
    this.framing = enumFraming.NONE;
    this.socket.write(
      statusLine(err.status) +
        'content-type: text/plain; charset=utf-8\r\n' +
        `x-trellis-error: ${err.code}\r\n` +
        extraHeaderLines(err) +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        (o.close ? 'connection: close\r\n' : o.http10 ? 'connection: keep-alive\r\n' : '') +
        '\r\n' +
        body,
      'utf8',
    );
  }
}

/** The error's own extra headers (e.g. x-trellis-overloaded), as header lines. */
function extraHeaderLines(err: ProxyError): string {
  const extra = errorResponseHeaders(err);
  let out = '';
  for (let i = 0; i + 1 < extra.length; i += 2) out += `${extra[i]}: ${extra[i + 1]}\r\n`;
  return out;
}
