// Open-loop constant-rate HTTP/1.1 load generator. Requests are due at fixed intended send times
// (start + i/rate) whatever the server does; a request that finds every connection busy waits and
// its latency counts from its intended time, so a stall in the server also counts for every
// request that should have been sent during it (no coordinated omission).
// Raw keep-alive `net` sockets, one request in flight per socket, a minimal response parser.
//
//   node bench/loadgen.ts --url http://127.0.0.1:8080/ --rate 1000 --duration 10 [--warmup 2]
//                         [--connections 64] [--drain 3]
// prints one JSON line (LoadgenResult).
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { build, type Histogram } from 'hdr-histogram-js';
import { spawnPinned } from './proc.ts';

export interface LoadgenOptions {
  url: string;
  rate: number;
  durationS: number;
  warmupS: number;
  connections: number;
  drainS: number;
}

export interface LoadgenResult {
  rate: number;
  duration_s: number;
  /** Completed 2xx responses per second in the measured window. */
  achieved_rps: number;
  /** Responses in the measured window (after warm-up). */
  completed: number;
  /** All responses, warm-up included (for CPU per request). */
  completed_total: number;
  errors: { socket: number; status: number; timeout: number };
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  /** How late the generator itself dispatched (timer granularity, own CPU): a sanity check. */
  send_lag_p99_ms: number;
}

const HEAD = 0;
const BODY = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const TRAILER = 4;
const MAX_RECONNECTS = 1000;

class Run {
  readonly o: LoadgenOptions;
  readonly request: Buffer;
  readonly host: string;
  readonly port: number;
  readonly latency: Histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  readonly lag: Histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  readonly idle: Conn[] = [];
  readonly backlog: number[] = [];
  backlogHead = 0;
  busy = 0;
  completedTotal = 0;
  errors = { socket: 0, status: 0, timeout: 0 };
  reconnects = 0;
  measureFrom = 0;
  finished = false;
  readonly all = new Set<Conn>();

  constructor(o: LoadgenOptions) {
    this.o = o;
    const u = new URL(o.url);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 80);
    this.request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`, 'latin1');
  }

  /** Sends a request due at `intended` now, or queues it until a connection is free. */
  dispatch(intended: number, now: number): void {
    if (intended >= this.measureFrom) this.lag.recordValue(Math.max(1, Math.round((now - intended) * 1000)));
    const conn = this.idle.pop();
    if (conn) conn.send(intended, false);
    else this.backlog.push(intended);
  }

  /** A connection is free: give it the oldest queued request, else park it. */
  release(conn: Conn): void {
    if (this.backlogHead < this.backlog.length) {
      conn.send(this.backlog[this.backlogHead++] as number, true);
      if (this.backlogHead > 4096 && this.backlogHead * 2 > this.backlog.length) {
        this.backlog.splice(0, this.backlogHead);
        this.backlogHead = 0;
      }
    } else this.idle.push(conn);
  }

  complete(conn: Conn, status: number): void {
    const now = performance.now();
    this.completedTotal++;
    if (status < 200 || status > 299) this.errors.status++;
    else if (conn.intended >= this.measureFrom) {
      this.latency.recordValue(Math.max(1, Math.round((now - conn.sentFrom) * 1000)));
    }
    conn.intended = -1;
    this.busy--;
    if (conn.closing) conn.socket.destroy();
    else this.release(conn);
  }

  /** Replaces a connection that closed; its request in flight (if any) is an error. */
  lost(conn: Conn): void {
    this.all.delete(conn);
    if (this.finished) return;
    if (conn.intended >= 0) {
      this.errors.socket++;
      this.busy--;
    }
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.reconnects++ < MAX_RECONNECTS) new Conn(this);
  }
}

class Conn {
  readonly run: Run;
  readonly socket: Socket;
  /** Intended send time of the request in flight, -1 when idle. */
  intended = -1;
  /** Where its latency counts from (see send). */
  sentFrom = 0;
  /** The server said Connection: close: replace the socket after this response. */
  closing = false;
  buf: Buffer | null = null;
  state = HEAD;
  status = 0;
  remaining = 0;
  closed = false;

  constructor(run: Run) {
    this.run = run;
    run.all.add(this);
    this.socket = connect({ host: run.host, port: run.port, noDelay: true });
    this.socket.on('connect', () => run.release(this));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => {
      this.closed = true;
      run.lost(this);
    });
  }

  /**
   * A request that waited for a free connection (`queued`: the server was holding every
   * connection) counts from its intended time, so stalls are fully charged; one sent on an idle
   * connection counts from the write, so the generator's own timer lag (up to ~1 ms) is not
   * charged to the server. `send_lag_p99_ms` reports that lag.
   */
  send(intended: number, queued: boolean): void {
    const now = performance.now();
    this.intended = intended;
    this.sentFrom = queued ? intended : now;
    this.run.busy++;
    this.socket.write(this.run.request);
  }

  onData(chunk: Buffer): void {
    const buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (this.state === HEAD) {
        const end = buf.indexOf('\r\n\r\n', off, 'latin1');
        if (end < 0) break;
        const head = buf.toString('latin1', off, end);
        this.status = Number(head.slice(9, 12));
        if (/\r\nconnection:[^\r]*close/i.test(head)) this.closing = true;
        off = end + 4;
        if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) this.state = CHUNK_SIZE;
        else {
          this.remaining = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
          this.state = BODY;
        }
      } else if (this.state === BODY || this.state === CHUNK_DATA) {
        const take = Math.min(this.remaining, buf.length - off);
        this.remaining -= take;
        off += take;
        if (this.remaining > 0) break;
        if (this.state === CHUNK_DATA) this.state = CHUNK_SIZE;
        else {
          this.state = HEAD;
          this.run.complete(this, this.status);
        }
      } else {
        const eol = buf.indexOf('\r\n', off, 'latin1');
        if (eol < 0) break;
        const line = buf.toString('latin1', off, eol);
        off = eol + 2;
        if (this.state === TRAILER) {
          if (line === '') {
            this.state = HEAD;
            this.run.complete(this, this.status);
          }
        } else {
          const size = parseInt(line, 16);
          if (size === 0) this.state = TRAILER;
          else {
            this.remaining = size + 2; // data + CRLF
            this.state = CHUNK_DATA;
          }
        }
      }
    }
    this.buf = off < buf.length ? buf.subarray(off) : null;
  }
}

const ms = (h: Histogram, p: number): number => h.getValueAtPercentile(p) / 1000;

export async function runLoadgen(o: LoadgenOptions): Promise<LoadgenResult> {
  const run = new Run(o);
  const conns = Array.from({ length: o.connections }, () => new Conn(run));
  // Wait (bounded) for the connections before the clock starts.
  const ready = performance.now() + 5000;
  while (run.idle.length < o.connections && performance.now() < ready) {
    if (conns.every((c) => c.closed)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  if (run.idle.length === 0) {
    run.finished = true;
    for (const c of run.all) c.socket.destroy();
    throw new Error(`cannot connect to ${o.url}`);
  }
  const interval = 1000 / o.rate;
  const total = Math.round(o.rate * (o.warmupS + o.durationS));
  const start = performance.now() + 5;
  run.measureFrom = start + o.warmupS * 1000;
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) run.dispatch(start + next++ * interval, now);
      if (next >= total) resolve();
      else setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    tick();
  });
  // Drain: requests still queued or in flight after the bound are timeouts.
  const drainEnd = performance.now() + o.drainS * 1000;
  while ((run.busy > 0 || run.backlogHead < run.backlog.length) && performance.now() < drainEnd) {
    await new Promise((r) => setTimeout(r, 5));
  }
  run.errors.timeout += run.busy + (run.backlog.length - run.backlogHead);
  run.finished = true;
  for (const c of run.all) c.socket.destroy();
  const completed = run.latency.totalCount;
  return {
    rate: o.rate,
    duration_s: o.durationS,
    achieved_rps: completed / o.durationS,
    completed,
    completed_total: run.completedTotal,
    errors: { ...run.errors },
    p50_ms: ms(run.latency, 50),
    p90_ms: ms(run.latency, 90),
    p99_ms: ms(run.latency, 99),
    p999_ms: ms(run.latency, 99.9),
    max_ms: run.latency.maxValue / 1000,
    send_lag_p99_ms: ms(run.lag, 99),
  };
}

/** Runs the generator as a child process pinned to `core` and reads its JSON line. */
export async function runLoadgenPinned(core: number, o: LoadgenOptions): Promise<LoadgenResult> {
  const self = fileURLToPath(import.meta.url);
  const args = [
    self,
    ...['--url', o.url, '--rate', String(o.rate), '--duration', String(o.durationS)],
    ...['--warmup', String(o.warmupS), '--connections', String(o.connections), '--drain', String(o.drainS)],
  ];
  const child = spawnPinned(core, process.execPath, args);
  let out = '';
  child.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const bound = (o.warmupS + o.durationS + o.drainS + 15) * 1000;
  const limit = setTimeout(() => child.child.kill('SIGKILL'), bound);
  const code = await child.exited;
  clearTimeout(limit);
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) {
    throw new Error(`loadgen exited with ${code}: ${child.output().slice(-500)}`);
  }
  return JSON.parse(line) as LoadgenResult;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      drain: { type: 'string', default: '3' },
    },
  });
  const num = (v: string | undefined, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be in [${min}, ${max}]`);
    return n;
  };
  if (!values.url) throw new Error('--url is required');
  const result = await runLoadgen({
    url: values.url,
    rate: num(values.rate, 'rate', 1, 200_000),
    durationS: num(values.duration, 'duration', 0.1, 600),
    warmupS: num(values.warmup, 'warmup', 0, 60),
    connections: num(values.connections, 'connections', 1, 4096),
    drainS: num(values.drain, 'drain', 0, 60),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
