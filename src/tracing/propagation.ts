// Trace context on the wire: W3C Trace Context (traceparent, tracestate) and Zipkin's B3, single
// header (`b3`) and multi header (`x-b3-*`). What came in is read in that order of preference; a
// malformed header counts as absent, so the proxy starts a trace of its own rather than fail the
// request. Going upstream, the context is written as W3C always, plus each B3 form that came in,
// so a caller that speaks only B3 still finds its trace continued.
//
// Rules followed (W3C Trace Context level 1, openzipkin/b3-propagation):
// - traceparent version 00 is exactly 55 characters; a higher version is read as 00 when what
//   follows the flags starts a new field; version ff, upper-case hex, all-zero ids are invalid,
//   and so are two traceparent headers;
// - tracestate is kept (several headers joined by commas) only with a valid traceparent;
// - B3 trace ids of 64 bits are widened to 128 with leading zeros, as OpenTelemetry's B3
//   propagator does; sampling state 1 / 0 / d (debug, implies sampled), absent = deferred to us;
//   `b3: 0` (a decision without ids) is honoured with ids of our own.
import type { HeaderList } from '../proxy/types.ts';
import { hexByte, isHexIdAt, newTraceId, unrecordedSpanId, unsampledTraceparent } from './ids.ts';

export const FORMAT_W3C = 1;
export const FORMAT_B3_SINGLE = 2;
export const FORMAT_B3_MULTI = 4;
/** Not a format: a tracestate header came (in `present`, so that it is dropped without its traceparent). */
export const TRACESTATE_SEEN = 8;

/** The trace context a request arrived with. */
export interface IncomingContext {
  /** The FORMAT_* the context was taken from; 0 when none was usable. */
  readonly source: number;
  /** FORMAT_* bits of every trace header family present, valid or not (they are replaced upstream), and TRACESTATE_SEEN. */
  readonly present: number;
  /** 32 hex characters; undefined when no ids came (no context, or only a B3 sampling decision). */
  readonly traceId: string | undefined;
  /** The caller's span: the parent of the span this hop records. */
  readonly spanId: string | undefined;
  /** The caller's decision; undefined when it left the decision to us. */
  readonly sampled: boolean | undefined;
  /** B3 debug (`d`, `x-b3-flags: 1`): sampled, and said so upstream. */
  readonly debug: boolean;
  /** The W3C tracestate to pass on, unchanged. */
  readonly traceState: string | undefined;
}

/** The context sent upstream with the request. */
export interface OutgoingContext {
  traceId: string;
  /** The span the next hop is a child of: ours when sampled, the caller's passed on otherwise. */
  spanId: string;
  /** For B3's parent field: the span ours is a child of. */
  parentSpanId: string | undefined;
  sampled: boolean;
  debug: boolean;
  traceState: string | undefined;
}

const NO_CONTEXT: IncomingContext = Object.freeze({
  source: 0,
  present: 0,
  traceId: undefined,
  spanId: undefined,
  sampled: undefined,
  debug: false,
  traceState: undefined,
});

const ZERO_HIGH = '0000000000000000';

interface Ids {
  traceId: string | undefined;
  spanId: string | undefined;
  sampled: boolean | undefined;
  debug: boolean;
}

/** A traceparent value, or undefined when it breaks a rule of the spec. */
export function parseTraceparent(
  v: string,
): { traceId: string; spanId: string; sampled: boolean } | undefined {
  if (v.length < 55) return undefined;
  const version = hexByte(v, 0);
  if (version < 0 || version === 0xff) return undefined;
  if (version === 0 ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 45 /* - */) return undefined;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  if (!isHexIdAt(v, 3, 32) || !isHexIdAt(v, 36, 16)) return undefined;
  const flags = hexByte(v, 53);
  if (flags < 0) return undefined;
  return { traceId: v.slice(3, 35), spanId: v.slice(36, 52), sampled: (flags & 1) === 1 };
}

function samplingState(c: number): Ids | undefined {
  if (c === 49 /* 1 */) return { traceId: undefined, spanId: undefined, sampled: true, debug: false };
  if (c === 48 /* 0 */) return { traceId: undefined, spanId: undefined, sampled: false, debug: false };
  if (c === 100 /* d */) return { traceId: undefined, spanId: undefined, sampled: true, debug: true };
  return undefined;
}

/** `{traceid}-{spanid}[-{1|0|d}][-{parentspanid}]`, or a sampling state alone. */
export function parseB3Single(v: string): Ids | undefined {
  if (v.length === 1) return samplingState(v.charCodeAt(0));
  const dash = v.indexOf('-');
  if ((dash !== 16 && dash !== 32) || !isHexIdAt(v, 0, dash) || !isHexIdAt(v, dash + 1, 16)) return undefined;
  const ids: Ids = {
    traceId: widen(v.slice(0, dash)),
    spanId: v.slice(dash + 1, dash + 17),
    sampled: undefined,
    debug: false,
  };
  let at = dash + 17;
  if (at < v.length && v.charCodeAt(at) === 45 && (at + 2 === v.length || v.charCodeAt(at + 2) === 45)) {
    const state = samplingState(v.charCodeAt(at + 1));
    if (state === undefined) return undefined;
    ids.sampled = state.sampled;
    ids.debug = state.debug;
    at += 2;
  }
  if (at === v.length) return ids;
  // What is left can only be the parent span id (its value is not needed: ours is the caller's span).
  return v.length === at + 17 && v.charCodeAt(at) === 45 && isHexIdAt(v, at + 1, 16) ? ids : undefined;
}

function widen(traceId: string): string {
  return traceId.length === 16 ? ZERO_HIGH + traceId : traceId;
}

function parseB3Multi(
  traceId: string | undefined,
  spanId: string | undefined,
  sampled: string | undefined,
  flags: string | undefined,
): Ids | undefined {
  const debug = flags === '1';
  // Lenient, as the spec allows: "true"/"false" from tracers older than it.
  const decision =
    debug || sampled === '1' || sampled === 'true'
      ? true
      : sampled === '0' || sampled === 'false'
        ? false
        : undefined;
  if (traceId === undefined && spanId === undefined)
    return decision === undefined ? undefined : { traceId, spanId, sampled: decision, debug };
  if (traceId === undefined || spanId === undefined) return undefined;
  if ((traceId.length !== 16 && traceId.length !== 32) || !isHexIdAt(traceId, 0, traceId.length))
    return undefined;
  if (spanId.length !== 16 || !isHexIdAt(spanId, 0, 16)) return undefined;
  return { traceId: widen(traceId), spanId, sampled: decision, debug };
}

/** Reads the request's trace headers in one pass; a request without any costs no allocation. */
export function extractContext(headers: HeaderList): IncomingContext {
  let present = 0;
  let traceparent: string | undefined;
  let traceparents = 0;
  let traceState: string | undefined;
  let b3: string | undefined;
  let xTraceId: string | undefined;
  let xSpanId: string | undefined;
  let xSampled: string | undefined;
  let xFlags: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const c = name.charCodeAt(0);
    if (c === 116 /* t */) {
      if (name === 'traceparent') {
        present |= FORMAT_W3C;
        traceparent = headers[i + 1]!;
        traceparents++;
      } else if (name === 'tracestate') {
        present |= TRACESTATE_SEEN;
        const v = headers[i + 1]!;
        traceState = traceState === undefined ? v : `${traceState},${v}`;
      }
    } else if (c === 98 /* b */) {
      if (name === 'b3') {
        present |= FORMAT_B3_SINGLE;
        b3 ??= headers[i + 1]!;
      }
    } else if (c === 120 /* x */ && name.startsWith('x-b3-')) {
      present |= FORMAT_B3_MULTI;
      const v = headers[i + 1]!;
      // The first value wins (B3: "when extracting state headers, the first value wins").
      if (name === 'x-b3-traceid') xTraceId ??= v;
      else if (name === 'x-b3-spanid') xSpanId ??= v;
      else if (name === 'x-b3-sampled') xSampled ??= v;
      else if (name === 'x-b3-flags') xFlags ??= v;
    }
  }
  if (present === 0) return NO_CONTEXT;
  const w3c = traceparents === 1 && traceparent !== undefined ? parseTraceparent(traceparent) : undefined;
  if (w3c !== undefined) {
    const { traceId, spanId, sampled } = w3c;
    return { source: FORMAT_W3C, present, traceId, spanId, sampled, debug: false, traceState };
  }
  let source = FORMAT_B3_SINGLE;
  let ids = b3 === undefined ? undefined : parseB3Single(b3);
  if (ids === undefined && (present & FORMAT_B3_MULTI) !== 0) {
    source = FORMAT_B3_MULTI;
    ids = parseB3Multi(xTraceId, xSpanId, xSampled, xFlags);
  }
  if (ids === undefined) return { ...NO_CONTEXT, present };
  return { source, present, ...ids, traceState: undefined };
}

function isTraceHeader(name: string): boolean {
  const c = name.charCodeAt(0);
  if (c === 116 /* t */) return name === 'traceparent' || name === 'tracestate';
  if (c === 98 /* b */) return name === 'b3';
  return c === 120 /* x */ && name.startsWith('x-b3-');
}

/** The request's headers with every trace header replaced by `ctx`, in W3C plus the B3 forms in `present`. */
export function injectContext(headers: HeaderList, present: number, ctx: OutgoingContext): HeaderList {
  let out: HeaderList;
  if (present === 0)
    out = headers.slice(); // nothing to take out: a copy is cheaper than a filter
  else {
    out = [];
    for (let i = 0; i < headers.length; i += 2)
      if (!isTraceHeader(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  }
  out.push('traceparent', `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`);
  if (ctx.traceState !== undefined) out.push('tracestate', ctx.traceState);
  const state = ctx.debug ? 'd' : ctx.sampled ? '1' : '0';
  if ((present & FORMAT_B3_SINGLE) !== 0) {
    const parent = ctx.parentSpanId === undefined ? '' : `-${ctx.parentSpanId}`;
    out.push('b3', `${ctx.traceId}-${ctx.spanId}-${state}${parent}`);
  }
  if ((present & FORMAT_B3_MULTI) !== 0) {
    out.push('x-b3-traceid', ctx.traceId, 'x-b3-spanid', ctx.spanId);
    if (ctx.parentSpanId !== undefined) out.push('x-b3-parentspanid', ctx.parentSpanId);
    // Debug implies sampled; the spec asks not to send x-b3-sampled beside it.
    if (ctx.debug) out.push('x-b3-flags', '1');
    else out.push('x-b3-sampled', state);
  }
  return out;
}

/**
 * A request that came with no trace header at all and is not recorded: its traceparent (new ids,
 * decision 00) appended to `headers` in place. The caller must own the list (the first layer of a
 * listener does: the list was made for this request) and no header is taken out, so nothing is
 * copied: the common case at a low sampling rate costs one string.
 */
export function appendUnsampledTraceparent(headers: HeaderList): void {
  headers.push('traceparent', unsampledTraceparent());
}

/**
 * The headers of a request this hop does not record. A valid traceparent that came alone goes on
 * untouched (nothing to add: the ids and the "not sampled" decision are already there); anything
 * else gets the caller's ids (or new ones) with the decision written in every form.
 */
export function unsampledHeaders(headers: HeaderList, incoming: IncomingContext): HeaderList {
  if (incoming.source === FORMAT_W3C && (incoming.present & ~TRACESTATE_SEEN) === FORMAT_W3C) return headers;
  const traceId = incoming.traceId ?? newTraceId();
  return injectContext(headers, incoming.present, {
    traceId,
    spanId: incoming.spanId ?? unrecordedSpanId(traceId),
    parentSpanId: undefined,
    sampled: false,
    debug: false,
    traceState: incoming.traceState,
  });
}
