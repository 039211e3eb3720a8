// A minimal WebSocket client (RFC 6455) for simulated proxies. A big message is not assembled: the
// caller gets its first bytes and its length, so a simulated proxy costs little more than the
// kernel's copy of what it receives, and 1,000 of them in one process keep up with full pushes of
// 600 KB snapshots. Text and binary data frames, fragments, ping/pong and close; no extensions.
import { createHash, randomFillSync } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEAD_BYTES = 256;

export interface LiteMessage {
  /** The whole message when it is at most `wholeUpTo` bytes, else its first bytes. */
  data: Buffer;
  length: number;
  whole: boolean;
}

export interface LiteOptions {
  /** Messages up to this size are delivered whole (default 16 KiB). */
  wholeUpTo?: number;
  handshakeTimeoutMs?: number;
  /** Extra headers of the upgrade request (e.g. `authorization`). */
  headers?: Record<string, string>;
  onOpen: () => void;
  onMessage: (m: LiteMessage) => void;
  /** Once, however the connection ends (1006 when no close frame came). */
  onClose: (code: number, reason: string) => void;
}

export class LiteWebSocket {
  private readonly socket: net.Socket;
  private readonly opts: LiteOptions;
  private readonly wholeUpTo: number;
  private opened = false;
  private closed = false;
  private pending: Buffer | null = null;
  // The frame being read.
  private inPayload = false;
  private remaining = 0;
  private fin = false;
  private opcode = 0;
  private control: Buffer[] = [];
  // The message being read (data frames).
  private length = 0;
  private head: Buffer[] = [];
  private headBytes = 0;
  private parts: Buffer[] | null = [];
  private closeCode = 1006;
  private closeReason = '';

  constructor(url: string, opts: LiteOptions) {
    this.opts = opts;
    this.wholeUpTo = opts.wholeUpTo ?? 16 * 1024;
    const u = new URL(url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const key = randomFillSync(Buffer.alloc(16)).toString('base64');
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    let extra = '';
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      // A CR or LF would end the header early and let the value write its own.
      if (/[\r\n]/.test(name + value)) throw new Error(`header ${JSON.stringify(name)} holds a line break`);
      extra += `${name}: ${value}\r\n`;
    }
    this.socket = net.connect({ host, port: Number(u.port || 80), noDelay: true });
    const timer = setTimeout(() => this.socket.destroy(), opts.handshakeTimeoutMs ?? 10_000);
    this.socket.on('connect', () => {
      this.socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
    this.socket.on('data', (chunk: Buffer) => {
      if (this.opened) return this.onFrames(chunk);
      const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 16 * 1024) this.socket.destroy();
        else this.pending = buf;
        return;
      }
      const response = `${buf.toString('latin1', 0, end)}\r\n`;
      this.pending = null;
      const accepted = new RegExp(`\r\nsec-websocket-accept:\\s*${escapeRegExp(accept)}\\s*\r\n`, 'i');
      if (!/^HTTP\/1\.1 101 /.test(response) || !accepted.test(response)) {
        this.socket.destroy();
        return;
      }
      clearTimeout(timer);
      this.opened = true;
      this.opts.onOpen();
      if (end + 4 < buf.length) this.onFrames(buf.subarray(end + 4));
    });
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => {
      clearTimeout(timer);
      if (this.closed) return;
      this.closed = true;
      this.opts.onClose(this.closeCode, this.closeReason);
    });
  }

  get isOpen(): boolean {
    return this.opened && !this.closed && !this.socket.destroyed;
  }

  /** Sends one text message (masked, as a client must). */
  send(text: string): void {
    if (!this.isOpen) return;
    this.writeFrame(0x1, Buffer.from(text));
  }

  terminate(): void {
    this.socket.destroy();
  }

  private writeFrame(opcode: number, payload: Buffer): void {
    const n = payload.length;
    const headLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headLen + 4 + n);
    frame[0] = 0x80 | opcode;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(n, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(n), 2);
    }
    const mask = randomFillSync(frame, headLen, 4).subarray(headLen, headLen + 4);
    for (let i = 0; i < n; i++) frame[headLen + 4 + i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(frame);
  }

  private onFrames(chunk: Buffer): void {
    const data = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let off = 0;
    while (off < data.length) {
      if (!this.inPayload) {
        const avail = data.length - off;
        if (avail < 2) break;
        const b0 = data[off]!;
        const b1 = data[off + 1]!;
        let len = b1 & 0x7f;
        let headLen = 2;
        if (len === 126) {
          if (avail < 4) break;
          len = data.readUInt16BE(off + 2);
          headLen = 4;
        } else if (len === 127) {
          if (avail < 10) break;
          len = Number(data.readBigUInt64BE(off + 2));
          headLen = 10;
        }
        // A server never masks (RFC 6455 5.1).
        if ((b1 & 0x80) !== 0) {
          this.socket.destroy();
          return;
        }
        off += headLen;
        this.fin = (b0 & 0x80) !== 0;
        this.opcode = b0 & 0x0f;
        this.remaining = len;
        this.inPayload = true;
        if (this.opcode >= 8) this.control = [];
        else if (this.opcode !== 0) this.startMessage();
      } else {
        const take = Math.min(this.remaining, data.length - off);
        const piece = data.subarray(off, off + take);
        off += take;
        this.remaining -= take;
        if (this.opcode >= 8) this.control.push(piece);
        else this.addToMessage(piece);
      }
      if (this.inPayload && this.remaining === 0) this.endFrame();
    }
    // Only a partial header is left over (payload is consumed as it comes).
    if (off < data.length) this.pending = Buffer.from(data.subarray(off));
  }

  private startMessage(): void {
    this.length = 0;
    this.head = [];
    this.headBytes = 0;
    this.parts = [];
  }

  private addToMessage(piece: Buffer): void {
    this.length += piece.length;
    if (this.headBytes < HEAD_BYTES) {
      const h = Buffer.from(piece.subarray(0, HEAD_BYTES - this.headBytes));
      this.head.push(h);
      this.headBytes += h.length;
    }
    if (this.parts !== null) {
      if (this.length <= this.wholeUpTo) this.parts.push(Buffer.from(piece));
      else this.parts = null;
    }
  }

  private endFrame(): void {
    this.inPayload = false;
    if (this.opcode >= 8) {
      const payload = Buffer.concat(this.control);
      if (this.opcode === 0x9) this.writeFrame(0xa, payload);
      else if (this.opcode === 0x8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReason = payload.toString('utf8', 2);
        this.writeFrame(0x8, payload.subarray(0, 2));
        this.socket.end();
      }
      return;
    }
    if (!this.fin) return;
    const whole = this.parts !== null;
    const data = whole ? Buffer.concat(this.parts ?? []) : Buffer.concat(this.head);
    this.parts = [];
    this.opts.onMessage({ data, length: this.length, whole });
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
