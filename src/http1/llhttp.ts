// A thin binding to llhttp, the strict HTTP/1 parser Node and undici use, through undici's
// WebAssembly build. One wasm instance serves every parser in the process (JS is single-threaded):
// each execute() copies the chunk into wasm memory and the callbacks map offsets back onto the
// original Buffer, so header bytes are never copied twice.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// @types/node does not declare the WebAssembly global; this is the part we use.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface LlhttpExports {
  memory: { buffer: ArrayBuffer };
  malloc(size: number): number;
  free(ptr: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(ptr: number): void;
  llhttp_execute(parser: number, data: number, len: number): number;
  llhttp_finish(parser: number): number;
  llhttp_resume(parser: number): void;
  llhttp_get_method(parser: number): number;
  llhttp_get_http_major(parser: number): number;
  llhttp_get_http_minor(parser: number): number;
  llhttp_get_status_code(parser: number): number;
  llhttp_should_keep_alive(parser: number): number;
  llhttp_get_error_pos(parser: number): number;
  llhttp_get_error_reason(parser: number): number;
}

export const ParserType = { REQUEST: 1, RESPONSE: 2 } as const;
export const Errno = { OK: 0, PAUSED: 21, PAUSED_UPGRADE: 22, USER: 24 } as const;
/** Returned from onHeadersComplete: 1 tells a response parser there is no body (HEAD, 204, 304). */
export const SKIP_BODY = 1;

/** What the parser calls back into; one implementation per connection role. */
export interface ParserCallbacks {
  onMessageBegin(): number;
  onUrl(buf: Buffer, start: number, end: number): number;
  onStatus(buf: Buffer, start: number, end: number): number;
  onHeaderField(buf: Buffer, start: number, end: number): number;
  onHeaderValue(buf: Buffer, start: number, end: number): number;
  onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number;
  onBody(buf: Buffer, start: number, end: number): number;
  onMessageComplete(): number;
}

let current: ParserCallbacks | null = null;
let currentChunk: Buffer | null = null;
let bufPtr = 0;
// One wasm buffer per nesting depth: a callback of one parser may run another parser's execute()
// (an upstream response completing resumes the downstream connection's pipelined request).
const depthPtrs: number[] = [];
const depthSizes: number[] = [];
let depth = 0;

/** Something to finish once the outermost execute() returns (e.g. a response head waiting for its body). */
export interface AfterParse {
  afterParse(): void;
}
const afterParse: AfterParse[] = [];

/**
 * Runs `task.afterParse()` when the execute() running now returns, so work started by a callback
 * can wait for the rest of the chunk (a head for its body bytes) without a process.nextTick per
 * request. Returns false outside any execute(): the caller must schedule it itself.
 */
export function deferUntilParsed(task: AfterParse): boolean {
  if (depth === 0) return false;
  afterParse.push(task);
  return true;
}

function runAfterParse(): void {
  // An index loop: a task deferred while these run is run too.
  for (let i = 0; i < afterParse.length; i++) afterParse[i]!.afterParse();
  afterParse.length = 0;
}

const constants = require('undici/lib/llhttp/constants.js') as { METHODS: Record<string, number> };
const METHOD_NAMES: string[] = [];
for (const [name, n] of Object.entries(constants.METHODS)) METHOD_NAMES[n] = name;

function loadModule(): object {
  try {
    return new wasm.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer);
  } catch {
    return new wasm.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Buffer);
  }
}

function offset(at: number): number {
  return at - bufPtr;
}

const instance = new wasm.Instance(loadModule(), {
  env: {
    wasm_on_message_begin: () => current!.onMessageBegin(),
    wasm_on_url: (_p: number, at: number, len: number) =>
      current!.onUrl(currentChunk!, offset(at), offset(at) + len),
    wasm_on_status: (_p: number, at: number, len: number) =>
      current!.onStatus(currentChunk!, offset(at), offset(at) + len),
    wasm_on_header_field: (_p: number, at: number, len: number) =>
      current!.onHeaderField(currentChunk!, offset(at), offset(at) + len),
    wasm_on_header_value: (_p: number, at: number, len: number) =>
      current!.onHeaderValue(currentChunk!, offset(at), offset(at) + len),
    wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) =>
      current!.onHeadersComplete(status, upgrade === 1, keepAlive === 1),
    wasm_on_body: (_p: number, at: number, len: number) =>
      current!.onBody(currentChunk!, offset(at), offset(at) + len),
    wasm_on_message_complete: () => current!.onMessageComplete(),
  },
});
const ll = instance.exports as unknown as LlhttpExports;

// A view of the wasm memory, made again only when the memory grew (which detaches the old buffer).
let heap = new Uint8Array(ll.memory.buffer);
function wasmHeap(): Uint8Array {
  if (heap.byteLength === 0) heap = new Uint8Array(ll.memory.buffer);
  return heap;
}

export interface ExecuteResult {
  errno: number;
  /** For PAUSED / PAUSED_UPGRADE / errors: index in the chunk where parsing stopped. */
  stoppedAt: number;
}

export class LlhttpParser {
  private ptr: number;
  private readonly callbacks: ParserCallbacks;
  readonly result: ExecuteResult = { errno: 0, stoppedAt: 0 };

  constructor(type: number, callbacks: ParserCallbacks) {
    this.ptr = ll.llhttp_alloc(type);
    this.callbacks = callbacks;
  }

  /** Parses a chunk; callbacks fire synchronously. Returns a shared result object. */
  execute(chunk: Buffer): ExecuteResult {
    const len = chunk.length;
    const d = depth;
    let ptr = depthPtrs[d] ?? 0;
    if (len > (depthSizes[d] ?? 0)) {
      if (ptr) ll.free(ptr);
      depthSizes[d] = Math.ceil(len / 4096) * 4096;
      ptr = depthPtrs[d] = ll.malloc(depthSizes[d]);
    }
    wasmHeap().set(chunk, ptr);
    const saved = current;
    const savedChunk = currentChunk;
    const savedPtr = bufPtr;
    current = this.callbacks;
    currentChunk = chunk;
    bufPtr = ptr;
    depth = d + 1;
    let errno: number;
    try {
      errno = ll.llhttp_execute(this.ptr, ptr, len);
      this.result.errno = errno;
      this.result.stoppedAt = errno === 0 ? len : ll.llhttp_get_error_pos(this.ptr) - ptr;
    } finally {
      current = saved;
      currentChunk = savedChunk;
      bufPtr = savedPtr;
      depth = d;
      if (d === 0 && afterParse.length > 0) runAfterParse();
    }
    return this.result;
  }

  /** Signals EOF (close-delimited bodies complete here). Returns the errno. */
  finish(): number {
    const saved = current;
    current = this.callbacks;
    try {
      return ll.llhttp_finish(this.ptr);
    } finally {
      current = saved;
    }
  }

  resume(): void {
    ll.llhttp_resume(this.ptr);
  }

  get method(): string {
    return METHOD_NAMES[ll.llhttp_get_method(this.ptr)] ?? 'GET';
  }

  get versionMinor(): number {
    return ll.llhttp_get_http_minor(this.ptr);
  }

  get versionMajor(): number {
    return ll.llhttp_get_http_major(this.ptr);
  }

  get keepAlive(): boolean {
    return ll.llhttp_should_keep_alive(this.ptr) === 1;
  }

  /** llhttp's reason for the last error, e.g. "Invalid header value char". */
  errorReason(): string {
    const p = ll.llhttp_get_error_reason(this.ptr);
    if (!p) return 'parse error';
    const mem = wasmHeap();
    let end = p;
    while (end < mem.length && mem[end] !== 0) end++;
    return Buffer.from(mem.subarray(p, end)).toString('latin1');
  }

  destroy(): void {
    if (this.ptr) {
      ll.llhttp_free(this.ptr);
      this.ptr = 0;
    }
  }
}
