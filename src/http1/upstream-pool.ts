// Keep-alive HTTP/1.1 connections to one upstream endpoint. Idle connections are reused most
// recently used first (warm sockets, and the cold ones age out); dispatch never opens a
// connection per request when one is idle. A cluster's connection limit (src/protection's
// ConnectionBudget) may make a request wait for a connection, in a bounded queue.
import net from 'node:net';
import tls from 'node:tls';
import { ConnectTimeoutError } from '../errors.ts';
import type { BudgetedPool, ConnectionBudget, PendingRequest } from '../protection/connection-budget.ts';
import type { Cancel, ProxyRequest, RequestBody, ResponseHandler } from '../proxy/types.ts';
import { watch, unwatch, type Expiring } from './sweeper.ts';
import { ExchangeTicket, UpstreamConnection, type ConnectionOwner } from './upstream-connection.ts';

/**
 * Shared by every plain upstream socket: JS runs one read callback at a time and each is parsed to
 * the end before it returns; whatever outlives the callback (body chunks) is copied out.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface Http1UpstreamOptions {
  connectTimeoutMs: number;
  maxIdle: number;
  idleTimeoutMs: number;
  /** A function is called per connection (mesh mTLS: the certificate in force at that moment). */
  tls?: tls.ConnectionOptions | (() => tls.ConnectionOptions) | undefined;
  /** Connection opened (+1) or closed (-1), for metrics. */
  onConnectionCount?: ((delta: number) => void) | undefined;
  /** Close a connection once it has carried this many requests (maxRequestsPerConnection). */
  maxRequestsPerConnection?: number | undefined;
  /** The cluster's connection limit and queue of requests waiting for a connection. */
  budget?: ConnectionBudget | undefined;
}

/** A request waiting for a connection of its pool; its cancel works while queued and after. */
class PendingExchange implements PendingRequest {
  readonly pool: Http1Upstream;
  readonly req: ProxyRequest;
  readonly body: RequestBody | null;
  readonly handler: ResponseHandler;
  readonly ticket = new ExchangeTicket();
  queued = true;

  constructor(pool: Http1Upstream, req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler) {
    this.pool = pool;
    this.req = req;
    this.body = body;
    this.handler = handler;
  }

  readonly cancel: Cancel = (reason) => {
    if (this.queued) {
      this.queued = false;
      this.pool.dequeue(this);
    } else this.ticket.cancel(reason);
  };
}

export class Http1Upstream implements ConnectionOwner, Expiring, BudgetedPool {
  readonly label: string;
  readonly address: string;
  readonly port: number;
  private readonly opts: Http1UpstreamOptions;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  deadline = 0;
  private closing = false;

  constructor(target: { address: string; port: number }, opts: Http1UpstreamOptions) {
    this.address = target.address;
    this.port = target.port;
    this.label = target.address.includes(':')
      ? `[${target.address}]:${target.port}`
      : `${target.address}:${target.port}`;
    this.opts = opts;
    opts.budget?.join(this);
  }

  get openConnections(): number {
    return this.all.size;
  }

  get idleConnections(): number {
    return this.idle.length;
  }

  readonly dispatch = (req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler): Cancel => {
    let conn = this.idle.pop();
    while (conn !== undefined && !conn.usable) conn = this.idle.pop();
    if (conn !== undefined) return conn.start(req, body, handler).cancel;
    const budget = this.opts.budget;
    if (budget === undefined || budget.tryOpen(this)) return this.connect().start(req, body, handler).cancel;
    const pending = new PendingExchange(this, req, body, handler);
    if (budget.enqueue(pending)) return pending.cancel;
    handler.onResponseError(budget.overflowError);
    return noop;
  };

  /** Called by the budget with a slot for a queued request. */
  grant(waiter: PendingRequest): void {
    const w = waiter as PendingExchange;
    w.queued = false;
    this.connect().start(w.req, w.body, w.handler, w.ticket);
  }

  closeOneIdle(): boolean {
    const conn = this.idle.shift();
    if (conn === undefined) return false;
    this.discard(conn);
    return true;
  }

  dequeue(w: PendingExchange): void {
    this.opts.budget?.remove(w);
  }

  /** Closes a connection that carries no exchange and gives its slot back now, not on 'close'. */
  private discard(conn: UpstreamConnection): void {
    conn.abort();
    this.forget(conn);
  }

  private connect(): UpstreamConnection {
    const { opts } = this;
    // Plain TCP reads land in one shared buffer, parsed at once (see UpstreamConnection.onRead):
    // no Buffer and no stream 'data' event per read.
    const tlsOpts = typeof opts.tls === 'function' ? opts.tls() : opts.tls;
    const socket: net.Socket = tlsOpts
      ? tls.connect({ ...tlsOpts, host: this.address, port: this.port })
      : net.connect({
          host: this.address,
          port: this.port,
          onread: { buffer: READ_BUFFER, callback: (n): boolean => conn.onRead(READ_BUFFER, n) },
        });
    const conn: UpstreamConnection = new UpstreamConnection(socket, this, !opts.tls);
    this.all.add(conn);
    opts.onConnectionCount?.(1);
    const timer = setTimeout(() => {
      conn.connectError = ConnectTimeoutError(this.label, opts.connectTimeoutMs);
      socket.destroy();
    }, opts.connectTimeoutMs);
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      conn.connected = true;
    });
    socket.once('close', () => clearTimeout(timer));
    return conn;
  }

  release(conn: UpstreamConnection): void {
    const maxUses = this.opts.maxRequestsPerConnection;
    if (this.closing || (maxUses !== undefined && conn.uses >= maxUses)) {
      this.discard(conn);
      return;
    }
    const budget = this.opts.budget;
    if (budget?.hasWaiters) {
      // A request waits for a connection: serve it here if it wants this endpoint; otherwise this
      // connection's slot goes to the first waiter's endpoint.
      const w = budget.takeWaiter(this) as PendingExchange | undefined;
      if (w === undefined) this.discard(conn);
      else {
        w.queued = false;
        conn.start(w.req, w.body, w.handler, w.ticket);
      }
      return;
    }
    if (this.idle.length >= this.opts.maxIdle) {
      conn.abort();
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
    if (this.deadline === 0) {
      this.deadline = conn.idleSince + this.opts.idleTimeoutMs;
      watch(this);
    }
  }

  forget(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    this.opts.onConnectionCount?.(-1);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.opts.budget?.closed();
  }

  retryStale(
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
    ticket: ExchangeTicket,
  ): void {
    this.opts.budget?.forceOpen();
    this.connect().start(req, body, handler, ticket);
  }

  onDeadline(now: number): void {
    const limit = this.opts.idleTimeoutMs;
    // Oldest first: idle is ordered by release time.
    while (this.idle.length > 0 && this.idle[0]!.idleSince + limit <= now) this.idle.shift()!.abort();
    const oldest = this.idle[0];
    if (oldest) this.deadline = oldest.idleSince + limit;
    else unwatch(this);
  }

  /** Closes idle connections now and the busy ones when their exchange ends. */
  close(): void {
    this.closing = true;
    this.opts.budget?.leave(this);
    unwatch(this);
    for (const conn of this.idle.splice(0)) conn.abort();
  }

  /** Closes every connection at once. */
  destroy(): void {
    this.close();
    for (const conn of this.all) conn.abort();
  }
}

const noop: Cancel = () => {};
