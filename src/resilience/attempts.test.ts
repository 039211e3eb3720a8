// The attempt engine with a scripted transport, for what timing makes hard to pin down through
// real sockets: a cancel during the backoff sleep stops the retry, and the backoff's full jitter
// stays below min(max, base × 2^n).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyError } from '../errors.ts';
import { testRequest } from '../proxy/testing.ts';
import type { Cancel, Dispatch, HeaderList, ResponseHandler } from '../proxy/types.ts';
import { AttemptExchange, type AttemptPlan } from './attempts.ts';
import { RetryBudget } from './retry-budget.ts';
import { RetryConditions } from './retry-conditions.ts';
import { eventually, sleep } from './test-support.ts';

const request = testRequest({ authority: 'svc' });

/** A transport that answers every try with `status` on the next turn, recording when tries start. */
function scripted(status: number): { dispatch: Dispatch; starts: number[]; cancels: number } {
  const out = { starts: [] as number[], cancels: 0, dispatch: undefined as unknown as Dispatch };
  out.dispatch = (_req, _body, handler): Cancel => {
    out.starts.push(performance.now());
    let cancelled = false;
    setImmediate(() => {
      if (cancelled) return;
      handler.onResponseStart(status, [], { resume() {}, abort() {} });
      if (!cancelled) handler.onResponseEnd(null);
    });
    return () => {
      cancelled = true;
      out.cancels++;
    };
  };
  return out;
}

function plan(dispatch: Dispatch, over: Partial<AttemptPlan> = {}): AttemptPlan {
  return {
    dispatch,
    conditions: new RetryConditions({
      retryOn: ['5xx'],
      retriableStatusCodes: [],
      retryNonIdempotent: false,
    }),
    maxRetries: 3,
    perTryTimeoutMs: 0,
    backoffBaseMs: 100,
    backoffMaxMs: 100,
    maxReplayBytes: 65536,
    budget: new RetryBudget({ ratio: 1, minRetriesPerSecond: 100, ttl: 10_000 }),
    retries: { value: 0 },
    exhausted: { value: 0 },
    hedge: null,
    random: () => 1,
    retryGate: { tryStartRetry: () => true, endRetry: () => {} },
    ...over,
  };
}

function recorder(): ResponseHandler & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    onResponseStart: (status: number, headers: HeaderList) =>
      events.push(`head ${status} ${headers.join(' ')}`),
    onResponseData: () => true,
    onResponseEnd: () => events.push('end'),
    onResponseError: (err: ProxyError) => events.push(`error ${err.code}`),
  };
}

test('cancelling the request during the backoff sleep: no retry is sent, nothing is answered', async () => {
  const t = scripted(503);
  const handler = recorder();
  const ex = new AttemptExchange(
    plan(t.dispatch, { backoffBaseMs: 500, backoffMaxMs: 500 }),
    request,
    null,
    handler,
  );
  const cancel = ex.start();
  await eventually(() => t.cancels === 1, 400, 5); // the 503 came back and was dropped; the retry sleeps 500 ms
  assert.equal(t.starts.length, 1);
  cancel(new Error('client gone'));
  await sleep(600);
  assert.equal(t.starts.length, 1);
  assert.deepEqual(handler.events, []);
});

test('backoff: full jitter under min(max, base × 2^n), and the last answer is forwarded', async () => {
  const t = scripted(503);
  const handler = recorder();
  let draws = 0;
  // random() = 1 would sleep the whole ceiling; 0.5 sleeps half of it.
  const p = plan(t.dispatch, { backoffBaseMs: 20, backoffMaxMs: 50, random: () => (draws++, 0.5) });
  new AttemptExchange(p, request, null, handler).start();
  await eventually(() => handler.events.length === 2, 5000, 5);
  assert.equal(t.starts.length, 4);
  assert.equal(draws, 3);
  const gaps = t.starts.slice(1).map((s, i) => s - t.starts[i]!);
  // Ceilings 20, 40, 50 (capped): sleeps of 10, 20, 25 ms, never more than the ceiling.
  for (const [i, ceiling] of [20, 40, 50].entries()) assert.ok(gaps[i]! >= ceiling / 2 - 1, `gap ${gaps[i]}`);
  assert.deepEqual(handler.events, ['head 503 x-trellis-attempts 4', 'end']);
  assert.equal(p.retries.value, 3);
});

test("the cluster's maxConcurrentRetries gate: a refused slot sends no retry; taken slots are given back at the end", async () => {
  const t = scripted(503);
  let slots = 1;
  let given = 0;
  const gate = {
    tryStartRetry: (): boolean => (slots > 0 ? (slots--, true) : false),
    endRetry: (): void => void (given++, slots++),
  };
  // First request: one slot, so one retry; the second retry finds the gate closed.
  const first = recorder();
  new AttemptExchange(
    plan(t.dispatch, { backoffBaseMs: 1, backoffMaxMs: 1, retryGate: gate }),
    request,
    null,
    first,
  ).start();
  await eventually(() => first.events.length === 2, 5000, 5);
  assert.equal(t.starts.length, 2);
  assert.deepEqual(first.events, ['head 503 x-trellis-attempts 2', 'end']);
  assert.equal(given, 1, 'the slot came back when the request ended');
  // With no slot free, a request gets its first answer only.
  slots = 0;
  const second = recorder();
  new AttemptExchange(plan(t.dispatch, { retryGate: gate }), request, null, second).start();
  await eventually(() => second.events.length === 2, 5000, 5);
  assert.equal(t.starts.length, 3);
  assert.deepEqual(second.events, ['head 503 x-trellis-attempts 1', 'end']);
});
