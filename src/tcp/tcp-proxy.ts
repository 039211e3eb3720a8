// Opaque TCP: connect to an endpoint and relay bytes both ways. Also the byte relay behind
// CONNECT tunnels and WebSocket upgrades (spliceSockets).
//
// Relay rules, both directions alike:
// - backpressure: a write that returns false pauses the source until the destination drains;
// - half-close: a FIN read from one side is forwarded as end() on the other; each socket is
//   closed by Node (autoDestroy) once it has both read and sent a FIN;
// - a side that errors, or closes without finishing both directions, makes the other side be
//   reset (RST), so the peer learns the stream was cut rather than completed;
// - idle: the timeout on one socket sees every read and write of the relay (everything passes
//   through it), so one timer covers both directions; on expiry both sides are closed.
// Manual write/drain rather than stream.pipe: the same work without pipe's multi-destination
// bookkeeping, and it counts bytes in the handler that already exists.
import * as net from 'node:net';
import {
  ConnectFailedError,
  ConnectTimeoutError,
  UpstreamResetError,
  type ProxyError,
  DownstreamResetError,
  IdleTimeoutError,
} from '../errors.ts';

export interface TcpProxyOptions {
  connectTimeoutMs: number;
  /** 0 disables. */
  idleTimeoutMs: number;
  /** Opens the upstream connection; tests inject one that never completes. Default net.connect. */
  connect?: (target: { address: string; port: number }) => net.Socket;
  /** The event after which bytes flow: 'secureConnect' when `connect` opens TLS. */
  readyEvent?: 'connect' | 'secureConnect';
}

/**
 * Live byte counts (metrics): bumped per chunk relayed, so a long-lived connection's bytes show
 * before it closes. Shared by many connections; received = from the client, sent = to the client.
 */
export interface TcpByteCounter {
  receivedBytes: number;
  sentBytes: number;
}

export interface TcpProxyHooks {
  /** Counts the relayed bytes as they pass (the replayed head included). */
  bytes?: TcpByteCounter | undefined;
  onConnected?(upstream: net.Socket): void;
  /** Called once. bytesFromClient includes the replayed head. */
  onClosed?(stats: { bytesFromClient: number; bytesFromUpstream: number; error?: ProxyError }): void;
}

type Fault = { side: 'a' | 'b'; cause: Error | undefined } | { side: 'idle' };

interface RelayResult {
  bytesAtoB: number;
  bytesBtoA: number;
  fault: Fault | null;
}

function defaultConnect(target: { address: string; port: number }): net.Socket {
  return net.connect({ host: target.address, port: target.port, allowHalfOpen: true, noDelay: true });
}

/** Closes with RST when the socket allows it (a TCP handle, connected), else plainly. */
function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP handle (e.g. a TLS socket): no RST possible.
    socket.destroy();
  }
}

/**
 * Connects to target, replays head, then pipes both ways with backpressure and half-close (FIN
 * forwarded each way, full close when both done). Connect failure/timeout closes the client
 * socket (RST if possible) and reports the error.
 */
export function proxyTcp(
  client: net.Socket,
  head: Buffer,
  target: { address: string; port: number },
  opts: TcpProxyOptions,
  hooks?: TcpProxyHooks,
): void {
  const label = `${target.address}:${target.port}`;
  // A client FIN must not end our side: the upstream's answer may still be on its way.
  client.allowHalfOpen = true;
  client.pause();
  if (client.destroyed) {
    hooks?.onClosed?.({ bytesFromClient: head.length, bytesFromUpstream: 0, error: DownstreamResetError() });
    return;
  }
  const upstream = (opts.connect ?? defaultConnect)(target);
  const ready = opts.readyEvent ?? 'connect';
  upstream.setTimeout(opts.connectTimeoutMs);

  const stopConnecting = (): void => {
    upstream.setTimeout(0);
    upstream.removeListener(ready, onConnect);
    upstream.removeListener('error', onConnectError);
    upstream.removeListener('timeout', onConnectTimeout);
    client.removeListener('error', onClientGone);
    client.removeListener('close', onClientGone);
  };
  const fail = (error: ProxyError): void => {
    stopConnecting();
    upstream.destroy();
    resetSocket(client);
    hooks?.onClosed?.({ bytesFromClient: head.length, bytesFromUpstream: 0, error });
  };
  const onConnectError = (err: Error): void => fail(ConnectFailedError(label, err));
  const onConnectTimeout = (): void => fail(ConnectTimeoutError(label, opts.connectTimeoutMs));
  const onClientGone = (err?: unknown): void => {
    stopConnecting();
    upstream.destroy();
    client.destroy();
    hooks?.onClosed?.({
      bytesFromClient: head.length,
      bytesFromUpstream: 0,
      error: DownstreamResetError(err instanceof Error ? err : undefined),
    });
  };
  const onConnect = (): void => {
    stopConnecting();
    hooks?.onConnected?.(upstream);
    if (head.length > 0) upstream.write(head);
    if (hooks?.bytes !== undefined) hooks.bytes.receivedBytes += head.length;
    relay(client, upstream, opts.idleTimeoutMs, hooks?.bytes, (r) => {
      hooks?.onClosed?.({
        bytesFromClient: head.length + r.bytesAtoB,
        bytesFromUpstream: r.bytesBtoA,
        error: faultToError(r.fault, label, opts.idleTimeoutMs),
      });
    });
  };

  upstream.on(ready, onConnect);
  upstream.on('error', onConnectError);
  upstream.on('timeout', onConnectTimeout);
  client.on('error', onClientGone);
  client.on('close', onClientGone);
}

function faultToError(fault: Fault | null, label: string, idleTimeoutMs: number): ProxyError | undefined {
  if (fault === null) return undefined;
  if (fault.side === 'idle') return IdleTimeoutError(idleTimeoutMs);
  if (fault.side === 'a') return DownstreamResetError(fault.cause);
  return UpstreamResetError(label, fault.cause);
}

/**
 * Splices two already-connected sockets both ways (used for CONNECT tunnels and WebSocket
 * upgrades after the HTTP handshake). Same half-close and backpressure rules; idle timeout closes
 * both. onClosed's error is the first socket error, or IdleTimeoutError (TRELLIS_IDLE_TIMEOUT).
 */
export function spliceSockets(
  a: net.Socket,
  b: net.Socket,
  opts: { idleTimeoutMs: number; bytes?: TcpByteCounter | undefined },
  onClosed?: (stats: { bytesAtoB: number; bytesBtoA: number; error?: Error }) => void,
): void {
  a.allowHalfOpen = true;
  b.allowHalfOpen = true;
  relay(a, b, opts.idleTimeoutMs, opts.bytes, (r) => {
    let error: Error | undefined;
    if (r.fault?.side === 'idle') error = IdleTimeoutError(opts.idleTimeoutMs);
    else if (r.fault) error = r.fault.cause;
    onClosed?.({ bytesAtoB: r.bytesAtoB, bytesBtoA: r.bytesBtoA, error });
  });
}

/**
 * Relays a <-> b until both sockets have closed, then calls done once and removes its listeners.
 * `bytes` (optional) counts a → b as received and b → a as sent.
 */
function relay(
  a: net.Socket,
  b: net.Socket,
  idleTimeoutMs: number,
  bytes: TcpByteCounter | undefined,
  done: (r: RelayResult) => void,
): void {
  const result: RelayResult = { bytesAtoB: 0, bytesBtoA: 0, fault: null };
  if (a.destroyed || b.destroyed) {
    result.fault = { side: a.destroyed ? 'a' : 'b', cause: undefined };
    resetSocket(a);
    resetSocket(b);
    process.nextTick(done, result);
    return;
  }
  let open = 2;
  a.setNoDelay(true);
  b.setNoDelay(true);

  const abort = (side: 'a' | 'b', cause: Error | undefined): void => {
    result.fault ??= { side, cause };
    resetSocket(side === 'a' ? b : a);
  };
  const onAData = (chunk: Buffer): void => {
    result.bytesAtoB += chunk.length;
    if (bytes !== undefined) bytes.receivedBytes += chunk.length;
    if (!b.write(chunk)) a.pause();
  };
  const onBData = (chunk: Buffer): void => {
    result.bytesBtoA += chunk.length;
    if (bytes !== undefined) bytes.sentBytes += chunk.length;
    if (!a.write(chunk)) b.pause();
  };
  const onADrain = (): void => void b.resume();
  const onBDrain = (): void => void a.resume();
  const onAEnd = (): void => void b.end();
  const onBEnd = (): void => void a.end();
  const onAError = (err: Error): void => abort('a', err);
  const onBError = (err: Error): void => abort('b', err);
  const onTimeout = (): void => {
    result.fault ??= { side: 'idle' };
    a.destroy();
    b.destroy();
  };
  const onAClose = (): void => {
    if (!(a.readableEnded && a.writableFinished)) abort('a', undefined);
    if (--open === 0) finish();
  };
  const onBClose = (): void => {
    if (!(b.readableEnded && b.writableFinished)) abort('b', undefined);
    if (--open === 0) finish();
  };
  const finish = (): void => {
    a.setTimeout(0);
    a.removeListener('data', onAData).removeListener('drain', onADrain).removeListener('end', onAEnd);
    a.removeListener('error', onAError)
      .removeListener('close', onAClose)
      .removeListener('timeout', onTimeout);
    b.removeListener('data', onBData).removeListener('drain', onBDrain).removeListener('end', onBEnd);
    b.removeListener('error', onBError).removeListener('close', onBClose);
    done(result);
  };

  a.on('data', onAData).on('drain', onADrain).on('end', onAEnd).on('error', onAError).on('close', onAClose);
  b.on('data', onBData).on('drain', onBDrain).on('end', onBEnd).on('error', onBError).on('close', onBClose);
  if (idleTimeoutMs > 0) {
    a.setTimeout(idleTimeoutMs);
    a.on('timeout', onTimeout);
  }
  // A FIN already read (e.g. during protocol detection) will not be emitted again.
  if (a.readableEnded) b.end();
  if (b.readableEnded) a.end();
  a.resume();
  b.resume();
}
