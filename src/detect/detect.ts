// Protocol sniffing for listeners in `detect` mode: read the first bytes of a connection and
// decide between HTTP/1, HTTP/2 (prior knowledge), TLS and opaque TCP.
//
// When to decide HTTP/1: only once the whole request line `METHOD SP target SP HTTP/1.x CRLF`
// has been seen. Deciding on "GET " alone would be wrong for real TCP protocols whose client
// speaks first with the same bytes: Redis inline commands (`GET key\r\n`), memcached
// (`get key\r\n`), SSH (`SSH-2.0-...`). A complete request line costs a few more bytes of
// waiting (HTTP clients send it in their first segment anyway) and never misroutes.
import type * as net from 'node:net';
import { DownstreamResetError } from '../errors.ts';

export type DetectedProtocol = 'http1' | 'http2' | 'tls' | 'tcp';

/**
 * Most bytes read before giving up: with no decision by then, the connection is 'tcp'. Matches
 * Node's default HTTP max header size, so a request line Node's HTTP server would accept is never
 * sent to the TCP cluster merely for being long.
 */
export const MAX_DETECT_BYTES = 16 * 1024;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HTTP1_VERSION = Buffer.from('HTTP/1.x\r\n', 'latin1');
const VERSION_DIGIT_AT = 7;
/** Longest registered method (UPDATEREDIRECTREF) is 17 characters; leave room for extensions. */
const MAX_METHOD_LENGTH = 32;
const SP = 0x20;
const TLS_HANDSHAKE = 0x16;
const TLS_CLIENT_HELLO = 0x01;
const TLS_MAX_RECORD = 16384;

/** RFC 9110 tchar: the bytes a method token may contain. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}
/** Bytes allowed in a request-target: visible ASCII, plus obs-text that real clients send raw. */
const TARGET_CHAR = new Uint8Array(256);
for (let b = 0x21; b <= 0xff; b++) if (b !== 0x7f) TARGET_CHAR[b] = 1;

/** Where the previous scan of a growing prefix stopped inside the request-target. */
interface ScanState {
  targetScanned: number;
}

/** Pure classifier on a prefix; 'need-more' when the bytes so far are a valid prefix of several answers. */
export function classifyPrefix(head: Buffer): DetectedProtocol | 'need-more' {
  return classify(head, { targetScanned: 0 });
}

function classify(head: Buffer, scan: ScanState): DetectedProtocol | 'need-more' {
  if (head.length === 0) return 'need-more';
  const first = head[0]!;
  if (first === TLS_HANDSHAKE) return classifyTls(head);
  if (first === H2_PREFACE[0] && matchesPreface(head)) {
    return head.length >= H2_PREFACE.length ? 'http2' : 'need-more';
  }
  return classifyHttp1(head, scan);
}

function matchesPreface(head: Buffer): boolean {
  const n = Math.min(head.length, H2_PREFACE.length);
  return head.compare(H2_PREFACE, 0, n, 0, n) === 0;
}

/** TLS record header: 0x16, version 0x03 0x00-0x04, length, then handshake type ClientHello. */
function classifyTls(head: Buffer): DetectedProtocol | 'need-more' {
  const len = head.length;
  if (len >= 2 && head[1] !== 0x03) return 'tcp';
  if (len >= 3 && head[2]! > 0x04) return 'tcp';
  if (len >= 5) {
    const recordLength = (head[3]! << 8) | head[4]!;
    if (recordLength === 0 || recordLength > TLS_MAX_RECORD) return 'tcp';
  }
  if (len >= 6) return head[5] === TLS_CLIENT_HELLO ? 'tls' : 'tcp';
  return 'need-more';
}

/** `METHOD SP request-target SP HTTP/1.x CRLF`; bare LF and HTTP/0.9 are not HTTP/1 here. */
function classifyHttp1(head: Buffer, scan: ScanState): DetectedProtocol | 'need-more' {
  const len = head.length;
  const methodLimit = Math.min(len, MAX_METHOD_LENGTH + 1);
  let i = 0;
  while (i < methodLimit && TCHAR[head[i]!] === 1) i++;
  if (i > MAX_METHOD_LENGTH) return 'tcp';
  if (i === len) return 'need-more';
  if (i === 0 || head[i] !== SP) return 'tcp';

  const targetStart = i + 1;
  // Bytes already scanned in an earlier call are valid target bytes: resume after them, so a
  // client trickling a long URL costs linear, not quadratic, time.
  let j = Math.max(targetStart, scan.targetScanned);
  while (j < len && TARGET_CHAR[head[j]!] === 1) j++;
  if (j === len) {
    scan.targetScanned = len;
    return 'need-more';
  }
  if (j === targetStart || head[j] !== SP) return 'tcp';

  const versionStart = j + 1;
  const available = Math.min(len - versionStart, HTTP1_VERSION.length);
  for (let p = 0; p < available; p++) {
    const b = head[versionStart + p]!;
    const ok = p === VERSION_DIGIT_AT ? b >= 0x30 && b <= 0x39 : b === HTTP1_VERSION[p];
    if (!ok) return 'tcp';
  }
  return available === HTTP1_VERSION.length ? 'http1' : 'need-more';
}

/**
 * Reads from a freshly accepted socket until the protocol is known or timeoutMs passes
 * (server-first protocols such as MySQL send nothing: after the timeout, 'tcp'). Returns the bytes
 * read, which the caller replays; nothing is lost. The socket is left paused with no 'data'
 * listener attached by you.
 *
 * - The client half-closing (FIN) during detection resolves 'tcp' with what was read: a client
 *   that sends its payload then shuts down writing still expects it forwarded and answered.
 *   `socket.readableEnded` is then true and the caller must forward the FIN (proxyTcp does).
 * - The socket erroring or closing without FIN rejects with DownstreamResetError
 *   (code TRELLIS_DOWNSTREAM_RESET); nothing is left to proxy.
 * - Sets `socket.allowHalfOpen = true` so a FIN from the client does not end our side before
 *   the response is relayed.
 * - After this resolves, the socket has no 'error' listener from here: attach one at once.
 */
export function detectProtocol(
  socket: net.Socket,
  timeoutMs: number,
): Promise<{ protocol: DetectedProtocol; head: Buffer }> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(DownstreamResetError());
      return;
    }
    socket.allowHalfOpen = true;
    const scan: ScanState = { targetScanned: 0 };
    // The first chunk is used as is (the usual case: one chunk decides); later chunks are copied
    // into a buffer that doubles, so a byte-at-a-time client costs linear time.
    let head: Buffer = Buffer.alloc(0);
    let used = 0;
    let owned = false;

    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const finish = (protocol: DetectedProtocol): void => {
      // Pause before removing the listener: a flowing stream with no 'data' listener drops data.
      socket.pause();
      cleanup();
      resolve({ protocol, head: head.subarray(0, used) });
    };
    const onData = (chunk: Buffer): void => {
      if (used === 0) {
        head = chunk;
        used = chunk.length;
      } else {
        if (!owned || used + chunk.length > head.length) {
          const grown = Buffer.allocUnsafe(Math.max(used + chunk.length, head.length * 2));
          head.copy(grown, 0, 0, used);
          head = grown;
          owned = true;
        }
        chunk.copy(head, used);
        used += chunk.length;
      }
      // Classify at most MAX_DETECT_BYTES so the verdict does not depend on how bytes were chunked.
      const verdict = classify(head.subarray(0, Math.min(used, MAX_DETECT_BYTES)), scan);
      if (verdict !== 'need-more') finish(verdict);
      else if (used >= MAX_DETECT_BYTES) finish('tcp');
    };
    const onEnd = (): void => finish('tcp');
    const onError = (err: Error): void => {
      cleanup();
      reject(DownstreamResetError(err));
    };
    const onClose = (): void => {
      cleanup();
      reject(DownstreamResetError());
    };
    const timer = setTimeout(finish, timeoutMs, 'tcp');

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.resume();
  });
}
