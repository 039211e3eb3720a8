// One active health check of one endpoint: a TCP connect, or an HTTP GET whose status must be
// expected (default 200-399). Each probe resolves true or false within its timeout, never
// rejects, and is cut short when `signal` aborts (the checker stopped).
import http2 from 'node:http2';
import net from 'node:net';
import type tls from 'node:tls';

// As in the admin server: an ESM import of node:http would load Node's bundled undici (+12 MB).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

export interface ProbeTarget {
  address: string;
  port: number;
}

export type Probe = (target: ProbeTarget, timeoutMs: number, signal: AbortSignal) => Promise<boolean>;

export interface HttpProbeOptions {
  path: string;
  /** Statuses that mean healthy; absent: 200-399. */
  expectedStatuses?: readonly number[] | undefined;
  /** http2: HTTP/2 (h2c, or h2 over TLS); http1 otherwise. */
  protocol: 'http1' | 'http2';
  /** Called per probe: mesh mTLS options follow certificate renewals. */
  tls?: (() => tls.ConnectionOptions | undefined) | undefined;
}

const USER_AGENT = 'trellis-health-check';

/**
 * Runs `body` with a `done` that settles the probe once; the timeout and the abort signal settle
 * it false. `cleanup` runs once, whatever settled it.
 */
function settleOnce(
  timeoutMs: number,
  signal: AbortSignal,
  body: (done: (ok: boolean) => void) => () => void,
): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      cleanup();
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    if (signal.aborted) {
      done(false);
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    cleanup = body(done);
    if (settled) cleanup();
  });
}

export const tcpProbe: Probe = (target, timeoutMs, signal) =>
  settleOnce(timeoutMs, signal, (done) => {
    const socket = net.connect({ host: target.address, port: target.port });
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    return () => socket.destroy();
  });

function hostPort(t: ProbeTarget): string {
  return net.isIPv6(t.address) ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`;
}

export function httpProbe(o: HttpProbeOptions): Probe {
  const expected = o.expectedStatuses;
  const healthy = (status: number): boolean =>
    expected !== undefined && expected.length > 0 ? expected.includes(status) : status >= 200 && status < 400;
  if (o.protocol === 'http2') {
    return (target, timeoutMs, signal) =>
      settleOnce(timeoutMs, signal, (done) => {
        const t = o.tls?.();
        const url = `${t ? 'https' : 'http'}://${hostPort(target)}`;
        const session = http2.connect(url, { ...t, ...(t ? { ALPNProtocols: ['h2'] } : {}) });
        session.on('error', () => done(false));
        session.once('close', () => done(false));
        const stream = session.request({ ':method': 'GET', ':path': o.path, 'user-agent': USER_AGENT });
        stream.on('error', () => done(false));
        stream.once('response', (headers) => done(healthy(Number(headers[':status']))));
        stream.end();
        return () => session.destroy();
      });
  }
  return (target, timeoutMs, signal) =>
    settleOnce(timeoutMs, signal, (done) => {
      const t = o.tls?.();
      const req = (t ? https : http).request({
        ...t,
        host: target.address,
        port: target.port,
        path: o.path,
        method: 'GET',
        agent: false,
        headers: { 'user-agent': USER_AGENT, connection: 'close' },
      });
      req.once('response', (res) => {
        res.resume();
        done(healthy(res.statusCode ?? 0));
      });
      req.once('error', () => done(false));
      req.end();
      return () => req.destroy();
    });
}
