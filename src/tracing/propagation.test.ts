// Trace context parsing and writing: every header format, malformed input treated as absent,
// tracestate kept only beside a valid traceparent, and the sampling decisions of each format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newSpanId, newTraceId, unsampledTraceparent } from './ids.ts';
import {
  extractContext,
  FORMAT_B3_MULTI,
  FORMAT_B3_SINGLE,
  FORMAT_W3C,
  injectContext,
  TRACESTATE_SEEN,
  parseB3Single,
  parseTraceparent,
  unsampledHeaders,
} from './propagation.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const TP = `00-${TRACE}-${SPAN}-01`;

function header(list: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) out.push(list[i + 1]!);
  return out;
}

test('traceparent: version 00 is read, sampled flag from bit 0 only', () => {
  assert.deepEqual(parseTraceparent(TP), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled, false);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-09`)?.sampled, true); // other bits ignored
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled, false);
});

test('traceparent: a future version is read as 00 when its extra fields start with a dash', () => {
  assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01-whatever`)?.traceId, TRACE);
  assert.equal(parseTraceparent(`cc-${TRACE}-${SPAN}-01`)?.spanId, SPAN);
  assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01x`), undefined);
});

test('traceparent: every malformed form is refused', () => {
  const bad = [
    '',
    'garbage',
    `ff-${TRACE}-${SPAN}-01`, // version ff is forbidden
    `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
    `00-${'0'.repeat(32)}-${SPAN}-01`, // all-zero trace id
    `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero parent id
    `00-${TRACE.toUpperCase()}-${SPAN}-01`, // upper-case hex
    `00-${TRACE.slice(1)}-${SPAN}0-01`, // wrong field lengths
    `00-${TRACE}-${SPAN}-1`,
    `00_${TRACE}_${SPAN}_01`,
    `0g-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-zz`,
    `00-${TRACE.slice(0, 31)}x-${SPAN}-01`,
  ];
  for (const v of bad) assert.equal(parseTraceparent(v), undefined, v);
});

test('b3 single: ids, sampling state, debug, parent, 64-bit trace ids widened', () => {
  assert.deepEqual(parseB3Single(`${TRACE}-${SPAN}-1`), {
    traceId: TRACE,
    spanId: SPAN,
    sampled: true,
    debug: false,
  });
  assert.equal(parseB3Single(`${TRACE}-${SPAN}-0-05e3ac9a4f6e3b90`)?.sampled, false);
  assert.deepEqual(parseB3Single(`${TRACE}-${SPAN}-d`), {
    traceId: TRACE,
    spanId: SPAN,
    sampled: true,
    debug: true,
  });
  assert.equal(parseB3Single(`${TRACE}-${SPAN}`)?.sampled, undefined); // deferred
  assert.equal(parseB3Single(`${TRACE}-${SPAN}-05e3ac9a4f6e3b90`)?.sampled, undefined); // parent, no state
  assert.equal(parseB3Single(`a3ce929d0e0e4736-${SPAN}-1`)?.traceId, '0000000000000000a3ce929d0e0e4736');
  assert.deepEqual(parseB3Single('0'), {
    traceId: undefined,
    spanId: undefined,
    sampled: false,
    debug: false,
  });
  assert.equal(parseB3Single('d')?.debug, true);
});

test('b3 single: malformed values are refused', () => {
  const bad = [
    'x',
    '2',
    `${TRACE}`,
    `${TRACE}-${SPAN}-x`,
    `${TRACE}-${SPAN}-1-short`,
    `${TRACE}-${SPAN}-1-05e3ac9a4f6e3b90-more`,
    `${TRACE.slice(2)}-${SPAN}-1`, // 30 hex digits
    `${'0'.repeat(32)}-${SPAN}-1`,
    `${TRACE}-${'0'.repeat(16)}-1`,
    `${TRACE}-${SPAN.toUpperCase()}-1`,
    `${TRACE}-${SPAN}-10`,
  ];
  for (const v of bad) assert.equal(parseB3Single(v), undefined, v);
});

test('extract: no trace header at all is the shared empty context', () => {
  const ctx = extractContext(['accept', '*/*', 'user-agent', 'curl']);
  assert.equal(ctx.source, 0);
  assert.equal(ctx.present, 0);
  assert.equal(ctx.traceId, undefined);
  assert.equal(ctx.sampled, undefined);
  assert.equal(extractContext([]), ctx);
});

test('extract: traceparent wins over b3, which wins over x-b3-*; tracestate is joined and kept', () => {
  const other = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const ctx = extractContext([
    'tracestate',
    'congo=t61rcWkgMzE',
    'b3',
    `${other}-${SPAN}-0`,
    'x-b3-traceid',
    other,
    'traceparent',
    TP,
    'tracestate',
    'rojo=00f067aa0ba902b7',
  ]);
  assert.equal(ctx.source, FORMAT_W3C);
  assert.equal(ctx.present, FORMAT_W3C | FORMAT_B3_SINGLE | FORMAT_B3_MULTI | TRACESTATE_SEEN);
  assert.equal(ctx.traceId, TRACE);
  assert.equal(ctx.spanId, SPAN);
  assert.equal(ctx.sampled, true);
  assert.equal(ctx.traceState, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');

  const b3 = extractContext(['b3', `${TRACE}-${SPAN}-1`, 'x-b3-traceid', other, 'x-b3-spanid', SPAN]);
  assert.equal(b3.source, FORMAT_B3_SINGLE);
  assert.equal(b3.traceId, TRACE);
});

test('extract: a malformed traceparent falls back to B3, and drops the tracestate', () => {
  const ctx = extractContext([
    'traceparent',
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    'tracestate',
    'congo=t61rcWkgMzE',
    'x-b3-traceid',
    'a3ce929d0e0e4736',
    'x-b3-spanid',
    SPAN,
    'x-b3-sampled',
    '1',
  ]);
  assert.equal(ctx.source, FORMAT_B3_MULTI);
  assert.equal(ctx.traceId, '0000000000000000a3ce929d0e0e4736');
  assert.equal(ctx.sampled, true);
  assert.equal(ctx.traceState, undefined);
});

test('extract: two traceparent headers are invalid; malformed B3 too: no context', () => {
  const ctx = extractContext(['traceparent', TP, 'traceparent', TP, 'b3', 'nonsense']);
  assert.equal(ctx.source, 0);
  assert.equal(ctx.present, FORMAT_W3C | FORMAT_B3_SINGLE);
  assert.equal(ctx.traceId, undefined);
  assert.equal(ctx.sampled, undefined);
  assert.equal(extractContext(['x-b3-traceid', TRACE]).source, 0); // span id missing
  assert.equal(
    extractContext(['x-b3-traceid', 'xyz', 'x-b3-spanid', SPAN, 'x-b3-sampled', '1']).sampled,
    undefined,
  );
});

test('extract: B3 multi sampling states: 1/0, true/false, flags debug, absent = deferred, decision alone', () => {
  const ids = ['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN];
  assert.equal(extractContext([...ids, 'x-b3-sampled', '1']).sampled, true);
  assert.equal(extractContext([...ids, 'x-b3-sampled', 'true']).sampled, true);
  assert.equal(extractContext([...ids, 'x-b3-sampled', '0']).sampled, false);
  assert.equal(extractContext([...ids, 'x-b3-sampled', 'false']).sampled, false);
  assert.equal(extractContext(ids).sampled, undefined);
  const debug = extractContext([...ids, 'x-b3-flags', '1']);
  assert.equal(debug.sampled, true);
  assert.equal(debug.debug, true);
  const deny = extractContext(['x-b3-sampled', '0']);
  assert.equal(deny.source, FORMAT_B3_MULTI);
  assert.equal(deny.traceId, undefined);
  assert.equal(deny.sampled, false);
});

test('inject: W3C always, B3 single and multi only when they came in; old trace headers replaced', () => {
  const traceId = newTraceId();
  const spanId = newSpanId();
  const ctx = { traceId, spanId, parentSpanId: SPAN, sampled: true, debug: false, traceState: 'a=1' };
  const base = [
    'accept',
    '*/*',
    'traceparent',
    'old',
    'tracestate',
    'old=1',
    'b3',
    'old',
    'x-b3-spanid',
    'old',
  ];

  const w3cOnly = injectContext(base, FORMAT_W3C, ctx);
  assert.deepEqual(w3cOnly, [
    'accept',
    '*/*',
    'traceparent',
    `00-${traceId}-${spanId}-01`,
    'tracestate',
    'a=1',
  ]);

  const all = injectContext(base, FORMAT_B3_SINGLE | FORMAT_B3_MULTI, ctx);
  assert.deepEqual(header(all, 'b3'), [`${traceId}-${spanId}-1-${SPAN}`]);
  assert.deepEqual(header(all, 'x-b3-traceid'), [traceId]);
  assert.deepEqual(header(all, 'x-b3-spanid'), [spanId]);
  assert.deepEqual(header(all, 'x-b3-parentspanid'), [SPAN]);
  assert.deepEqual(header(all, 'x-b3-sampled'), ['1']);
  assert.deepEqual(header(all, 'traceparent'), [`00-${traceId}-${spanId}-01`]);

  const debug = injectContext([], FORMAT_B3_SINGLE | FORMAT_B3_MULTI, {
    ...ctx,
    debug: true,
    parentSpanId: undefined,
  });
  assert.deepEqual(header(debug, 'b3'), [`${traceId}-${spanId}-d`]);
  assert.deepEqual(header(debug, 'x-b3-flags'), ['1']);
  assert.deepEqual(header(debug, 'x-b3-sampled'), []); // debug implies it
  assert.deepEqual(header(debug, 'x-b3-parentspanid'), []);
});

test('unsampled: a lone valid traceparent (with its tracestate) passes untouched', () => {
  const headers = ['traceparent', `00-${TRACE}-${SPAN}-00`, 'tracestate', 'congo=1'];
  assert.equal(unsampledHeaders(headers, extractContext(headers)), headers);
});

test('unsampled: B3 that left the decision to us gets it written, with the same ids, in every form', () => {
  const headers = ['b3', `${TRACE}-${SPAN}`];
  const out = unsampledHeaders(headers, extractContext(headers));
  assert.deepEqual(header(out, 'b3'), [`${TRACE}-${SPAN}-0`]);
  assert.deepEqual(header(out, 'traceparent'), [`00-${TRACE}-${SPAN}-00`]);
});

test('unsampled: no context (or a malformed one) starts a trace: new ids, decision 00', () => {
  for (const headers of [[], ['traceparent', 'junk', 'tracestate', 'x=1'], ['tracestate', 'x=1']]) {
    const out = unsampledHeaders(headers, extractContext(headers));
    const [tp] = header(out, 'traceparent');
    assert.match(tp!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.notEqual(parseTraceparent(tp!), undefined);
    assert.deepEqual(header(out, 'tracestate'), []); // never passed on without its traceparent
  }
});

test("unsampledTraceparent: valid, not sampled, span id = the trace id's low half, new every time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const v = unsampledTraceparent();
    assert.match(v, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const tp = parseTraceparent(v);
    assert.ok(tp !== undefined, v);
    assert.equal(tp.sampled, false);
    assert.equal(tp.spanId, tp.traceId.slice(16));
    seen.add(tp.traceId);
  }
  assert.equal(seen.size, 2000);
});

test('ids: random, lower-case hex, the right lengths, never zero', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    seen.add(s);
  }
  assert.equal(seen.size, 2000);
});
