// One request's tries against a cluster: the first try, retries after a retriable failure, and
// hedges while a try is slow. Retries wait a backoff (exponential, full jitter), need the retry
// budget, a replayable body and time before the deadline, and prefer an endpoint not tried yet.
// A retriable response head is never forwarded: that try is cancelled and the next one starts.
// Once a head is forwarded (the "winner"), nothing is retried. Cancelling the request (client
// gone, route timeout) cancels the tries in flight and any pending backoff or hedge.
import { DroppedResponseError, PerTryTimeoutError, type ProxyError } from '../errors.ts';
import type { LbEndpoint } from '../balance/index.ts';
import { kTriedEndpoints, type TriedEndpoints } from '../proxy/cluster.ts';
import type {
  Cancel,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import type { AttemptPlan } from './attempt-plan.ts';
import { requestDeadline, withRemainingBudget } from './deadline.ts';
import { ReplayableBody, type BodyReader } from './replayable-body.ts';
import { isIdempotent } from './retry-conditions.ts';
import { ALIVE, DEAD, Try, onTryTimeout, type TryOwner } from './try.ts';

export type { AttemptPlan } from './attempt-plan.ts';

export const ATTEMPTS_HEADER = 'x-trellis-attempts';

/** Cancel reasons, made once (an Error records a stack trace when created). */
const TRY_DROPPED = new Error('try dropped: another try answered, or a retry replaces it');
const TRY_TIMED_OUT = new Error('per-try timeout');

export class AttemptExchange implements TryOwner {
  private readonly plan: AttemptPlan;
  private readonly req: ProxyRequest;
  private readonly handler: ResponseHandler;
  private readonly idempotent: boolean;
  private readonly deadline: number;
  /** The body as it came, when it cannot be replayed (sent by the first try only). */
  private raw: RequestBody | null = null;
  private rawSent = false;
  private readonly replay: ReplayableBody | null = null;
  private readonly tried: LbEndpoint[] = [];
  private readonly tries: Try[] = [];
  private attempts = 0;
  private retriesUsed = 0;
  private hedgesUsed = 0;
  private winner: Try | null = null;
  private done = false;
  private lastFailure: ProxyError | null = null;
  /** Retry slots taken from the cluster's gate; given back when the request ends. */
  private retrySlots = 0;
  /** Status of the last retriable answer dropped (reported if its retry cannot be sent). */
  private droppedStatus = 503;
  private backoff: NodeJS.Timeout | null = null;
  private hedgeTimer: NodeJS.Timeout | null = null;

  constructor(plan: AttemptPlan, req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler) {
    this.plan = plan;
    this.req = req;
    this.handler = handler;
    this.idempotent = isIdempotent(req.method);
    this.deadline = requestDeadline(req, handler);
    if (body !== null) {
      const mayRepeat = plan.maxRetries > 0 || (plan.hedge !== null && plan.hedge.applies(req.method));
      const fits = req.bodyLength < 0 || req.bodyLength <= plan.maxReplayBytes;
      if (mayRepeat && fits && plan.maxReplayBytes > 0)
        this.replay = new ReplayableBody(body, plan.maxReplayBytes);
      else this.raw = body;
    }
  }

  /** Sends the first try; returns what cancels the whole exchange. */
  start(): Cancel {
    this.plan.budget.deposit();
    // Already past the deadline: the RouteExchange's timer (due now) answers.
    if (this.deadline > performance.now()) this.send(false);
    return this.cancel;
  }

  readonly cancel: Cancel = (reason) => {
    if (this.done) return;
    this.finish();
    for (const t of this.tries.splice(0)) this.stop(t, reason);
  };

  // ---- the tries' callbacks ----

  informational(t: Try, status: number, headers: HeaderList): void {
    if (!this.done && t.state === ALIVE && (this.winner === null || this.winner === t))
      this.handler.onInformational?.(status, headers);
  }

  head(t: Try, status: number, headers: HeaderList, controller: ResponseController): void {
    if (this.done || t.state !== ALIVE || this.winner !== null) {
      controller.abort();
      return;
    }
    const conditions = this.plan.conditions;
    if (conditions?.responseRetriable(status, headers, this.req.grpc, this.idempotent)) {
      // Another try in flight may still answer; else retry if allowed, or forward this answer.
      if (this.tries.length > 1 || this.retry()) {
        this.lastFailure = null;
        this.droppedStatus = status === 200 ? 503 : status; // gRPC: a 503 maps to UNAVAILABLE
        this.drop(t, controller);
        return;
      }
    }
    // Fast failures would drag the hedging delay down: only real answers are latency samples.
    if (status < 500) this.plan.hedge?.record(performance.now() - t.start);
    this.winner = t;
    this.clearTimer(t);
    // Backwards: drop() takes the try out of the list.
    for (let i = this.tries.length - 1; i >= 0; i--) if (this.tries[i] !== t) this.drop(this.tries[i]!, null);
    this.clearHedge();
    this.replay?.seal();
    setAttempts(headers, this.attempts);
    this.handler.onResponseStart(status, headers, controller);
  }

  data(t: Try, chunk: Buffer): boolean {
    return t !== this.winner || this.done || this.handler.onResponseData(chunk);
  }

  end(t: Try, trailers: HeaderList | null): void {
    if (t !== this.winner || this.done) return;
    this.finish();
    this.handler.onResponseEnd(trailers);
  }

  failed(t: Try, err: ProxyError): void {
    if (this.done) return;
    if (t === this.winner) {
      this.finish();
      this.handler.onResponseError(err);
      return;
    }
    if (t.state !== ALIVE) return;
    this.forget(t);
    this.lastFailure = err;
    if (this.tries.length > 0) return; // a hedge is still out
    const conditions = this.plan.conditions;
    if (conditions !== null && conditions.failureRetriable(err, this.idempotent) && this.retry()) return;
    this.fail(err);
  }

  timedOut(t: Try, ms: number): void {
    t.timer = null;
    if (this.done || t.state !== ALIVE || t === this.winner) return;
    t.cancel?.(TRY_TIMED_OUT);
    this.failed(t, PerTryTimeoutError(ms));
  }

  hedgeDue(): void {
    this.hedgeTimer = null;
    const hedge = this.plan.hedge;
    if (hedge === null || this.done || this.winner !== null || this.tries.length === 0) return;
    if (this.rawSent || (this.replay !== null && !this.replay.complete)) return; // body not in hand
    if (!this.plan.budget.withdraw()) {
      this.plan.exhausted.value++;
      return;
    }
    this.hedgesUsed++;
    hedge.sent.value++;
    this.send(true);
    this.armHedge();
  }

  retryDue(): void {
    this.backoff = null;
    if (this.done) return;
    this.plan.retries.value++;
    this.send(false);
  }

  // ---- internals ----

  /** Starts one try (first, retry or hedge) on an endpoint not tried yet when there is one. */
  private send(hedge: boolean): void {
    let body: RequestBody | null = null;
    let reader: BodyReader | null = null;
    if (this.replay !== null) {
      reader = this.replay.reader();
      if (reader === null) {
        // The body stopped being replayable while the retry waited.
        this.fail(this.lastFailure);
        return;
      }
      body = reader;
    } else if (this.raw !== null) {
      body = this.raw;
      this.raw = null;
      this.rawSent = true;
    }
    this.attempts++;
    const t = new Try(this);
    t.reader = reader;
    this.tries.push(t);
    const perTry = this.plan.perTryTimeoutMs;
    // A per-try timeout past the deadline is left to the RouteExchange's timer.
    const tryMs = perTry > 0 && perTry < this.deadline - performance.now() ? perTry : Infinity;
    // Each try's request names the endpoints tried so far; the cluster prefers another one.
    const req: ProxyRequest & TriedEndpoints = withRemainingBudget(this.req, this.deadline, tryMs, true);
    req[kTriedEndpoints] = this.tried;
    const cancel = this.plan.dispatch(req, body, t);
    if (t.state !== ALIVE) return; // failed at once (no endpoint); failed() took it from there
    t.cancel = cancel;
    if (tryMs !== Infinity) t.timer = setTimeout(onTryTimeout, tryMs, t, tryMs);
    if (!hedge) this.armHedge();
  }

  /** Schedules a retry if one is allowed now; false when not (attempts, body, deadline, budget). */
  private retry(): boolean {
    const plan = this.plan;
    if (this.retriesUsed >= plan.maxRetries || this.done) return false;
    if (this.rawSent || (this.replay !== null && !this.replay.replayable)) return false;
    // Full jitter (AWS architecture blog): uniform in [0, min(max, base × 2^n)].
    const ceiling = Math.min(plan.backoffMaxMs, plan.backoffBaseMs * 2 ** this.retriesUsed);
    const sleep = plan.random() * ceiling;
    if (performance.now() + sleep >= this.deadline) return false;
    if (!plan.budget.withdraw()) {
      plan.exhausted.value++;
      return false;
    }
    // Past the cluster's maxConcurrentRetries: no retry (the overflow is counted by the cluster).
    if (!plan.retryGate.tryStartRetry()) return false;
    this.retrySlots++;
    this.retriesUsed++;
    this.clearHedge();
    this.backoff = setTimeout(onBackoff, sleep, this);
    return true;
  }

  private armHedge(): void {
    const hedge = this.plan.hedge;
    if (hedge === null || this.hedgesUsed >= hedge.maxHedges || !hedge.applies(this.req.method)) return;
    const delay = hedge.delay();
    if (delay === undefined || performance.now() + delay >= this.deadline) return;
    this.clearHedge();
    this.hedgeTimer = setTimeout(onHedge, delay, this);
  }

  /** Drops a try that will not be the answer, and cancels it upstream. */
  private drop(t: Try, controller: ResponseController | null): void {
    if (t.state !== ALIVE) return;
    const cancel = t.cancel;
    this.forget(t);
    if (cancel !== null) cancel(TRY_DROPPED);
    else controller?.abort();
  }

  private stop(t: Try, reason?: Error): void {
    if (t.state !== ALIVE) return;
    const cancel = t.cancel;
    this.forget(t);
    cancel?.(reason);
  }

  /** Marks a try dead and releases its timer and its hold on the body. */
  private forget(t: Try): void {
    t.state = DEAD;
    this.clearTimer(t);
    t.reader?.detach();
    const i = this.tries.indexOf(t);
    if (i >= 0) this.tries.splice(i, 1);
  }

  private fail(err: ProxyError | null): void {
    if (this.done) return;
    this.finish();
    this.handler.onResponseError(err ?? DroppedResponseError(this.droppedStatus));
  }

  private finish(): void {
    this.done = true;
    for (; this.retrySlots > 0; this.retrySlots--) this.plan.retryGate.endRetry();
    this.clearHedge();
    if (this.backoff !== null) clearTimeout(this.backoff);
    this.backoff = null;
  }

  private clearTimer(t: Try): void {
    if (t.timer !== null) clearTimeout(t.timer);
    t.timer = null;
  }

  private clearHedge(): void {
    if (this.hedgeTimer !== null) clearTimeout(this.hedgeTimer);
    this.hedgeTimer = null;
  }
}

function onBackoff(ex: AttemptExchange): void {
  ex.retryDue();
}
function onHedge(ex: AttemptExchange): void {
  ex.hedgeDue();
}

/** Sets x-trellis-attempts on a response head (replacing one from a proxy further upstream). */
function setAttempts(headers: HeaderList, attempts: number): void {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] === ATTEMPTS_HEADER) {
      headers.splice(i, 2);
      i -= 2;
    }
  }
  headers.push(ATTEMPTS_HEADER, String(attempts));
}
