// Fault injection through a real proxy: HTTP aborts never reach upstream, a delay holds the
// request (and a client that leaves during it cancels it), percent sampling, and gRPC aborts that
// @grpc/grpc-js clients see as the configured status — by name, by number, or mapped from an HTTP
// status — together with the gRPC shape of a rate-limit refusal.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Echo, echoService, type EchoReply, type EchoRequest } from '../../test/support/grpc-echo.ts';
import { ConfigError } from '../errors.ts';
import { parseConfigText } from '../model/load.ts';
import { policyConfig, request, sleep, startPolicyProxy, startRecordingUpstream } from './test-support.ts';
import type { RecordingUpstream, RunningProxy } from './test-support.ts';

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
interface EchoClient extends grpc.Client {
  Unary(req: EchoRequest, md: grpc.Metadata, cb: Callback<EchoReply>): grpc.ClientUnaryCall;
}

describe('fault injection', () => {
  let upstream: RecordingUpstream;
  let grpcServer: grpc.Server;
  let proxy: RunningProxy;
  let client: EchoClient;
  const grpcFault = (value: string) => ({ headers: [{ name: 'x-fault', exact: value }] });
  before(async () => {
    upstream = await startRecordingUpstream('app');
    grpcServer = new grpc.Server();
    grpcServer.addService(Echo.service, echoService());
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const grpcRoute = (name: string, value: string, policy: object) => ({
      name,
      match: grpcFault(value),
      backends: [{ cluster: 'echo' }],
      ...policy,
    });
    proxy = await startPolicyProxy(
      [
        grpcRoute('grpc-by-name', 'unavailable', { fault: { abort: { grpcStatus: 'UNAVAILABLE' } } }),
        grpcRoute('grpc-by-number', 'eight', { fault: { abort: { grpcStatus: 8 } } }),
        grpcRoute('grpc-http', 'http', { fault: { abort: { httpStatus: 503 } } }),
        grpcRoute('grpc-limited', 'limited', {
          rateLimit: { maxTokens: 1, tokensPerFill: 1, fillInterval: '1h' },
        }),
        { name: 'grpc', match: { path: { prefix: '/trellis.test.Echo/' } }, backends: [{ cluster: 'echo' }] },
        {
          name: 'abort',
          match: { path: { prefix: '/abort' } },
          backends: [{ cluster: 'app' }],
          fault: { abort: { httpStatus: 503, percent: 100 } },
        },
        {
          name: 'grpc-status-for-http',
          match: { path: { prefix: '/grpc-only' } },
          backends: [{ cluster: 'app' }],
          fault: { abort: { grpcStatus: 'PERMISSION_DENIED' } },
        },
        {
          name: 'delay',
          match: { path: { prefix: '/delay' } },
          backends: [{ cluster: 'app' }],
          fault: { delay: { fixed: '300ms', percent: 100 } },
        },
        {
          name: 'half',
          match: { path: { prefix: '/half' } },
          backends: [{ cluster: 'app' }],
          fault: { abort: { httpStatus: 500, percent: 50 } },
        },
        {
          name: 'never',
          match: { path: { prefix: '/never' } },
          backends: [{ cluster: 'app' }],
          fault: { abort: { httpStatus: 500, percent: 0 }, delay: { fixed: '10s', percent: 0 } },
        },
      ],
      { app: { ports: [upstream.port] }, echo: { ports: [grpcPort], protocol: 'grpc' } },
    );
    client = new Echo(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });
  after(async () => {
    client?.close();
    await proxy?.close();
    await upstream?.close();
    await new Promise<void>((resolve) => (grpcServer ? grpcServer.tryShutdown(() => resolve()) : resolve()));
  });

  const unary = (fault?: string) =>
    new Promise<{ err: grpc.ServiceError | null; reply?: EchoReply }>((resolve) => {
      const md = new grpc.Metadata();
      if (fault !== undefined) md.set('x-fault', fault);
      client.Unary({ text: 'hi', count: 0 }, md, (err, reply) => resolve({ err, reply }));
    });

  it('aborts with the HTTP status, never calling upstream', async () => {
    const seen = upstream.seen.length;
    const r = await request({ port: proxy.port, path: '/abort/x' });
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_FAULT_ABORT');
    assert.equal(upstream.seen.length, seen);
    assert.equal(proxy.stats.policy.faults.series({ route: 'abort', kind: 'abort' }).value, 1);
  });

  it('answers a plain HTTP request to a gRPC-status abort with the mapped HTTP status', async () => {
    const r = await request({ port: proxy.port, path: '/grpc-only' });
    assert.equal(r.status, 403);
  });

  it('gRPC clients see the configured status, by name and by number', async () => {
    const ok = await unary();
    assert.equal(ok.err, null);
    assert.equal(ok.reply?.text, 'echo:hi');

    const byName = await unary('unavailable');
    assert.equal(byName.err?.code, grpc.status.UNAVAILABLE);
    assert.equal(byName.err?.details, 'fault injected: request aborted');
    assert.deepEqual(byName.err?.metadata.get('x-trellis-error'), ['TRELLIS_FAULT_ABORT']);

    const byNumber = await unary('eight');
    assert.equal(byNumber.err?.code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it('gRPC clients see an HTTP abort status as its gRPC status', async () => {
    const r = await unary('http');
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
  });

  it('gRPC clients see a rate-limit refusal as UNAVAILABLE with the rate-limit metadata', async () => {
    assert.equal((await unary('limited')).err, null);
    const r = await unary('limited');
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
    assert.deepEqual(r.err?.metadata.get('x-ratelimit-limit'), ['1']);
    assert.deepEqual(r.err?.metadata.get('x-trellis-error'), ['TRELLIS_RATE_LIMITED']);
  });

  it('delays the request by the fixed time before it goes upstream', async () => {
    const start = performance.now();
    const r = await request({ port: proxy.port, path: '/delay/1' });
    const elapsed = performance.now() - start;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app GET /delay/1');
    assert.ok(elapsed >= 295, `held for ${elapsed.toFixed(0)} ms`);
    assert.equal(proxy.stats.policy.faults.series({ route: 'delay', kind: 'delay' }).value, 1);
  });

  it('a client that leaves during the delay cancels the request', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /delay/cancelled HTTP/1.1\r\nhost: svc.test\r\n\r\n');
    await sleep(50);
    // A reset: on a detecting listener a FIN alone is a half-close, and the response still goes out.
    socket.resetAndDestroy();
    await sleep(600);
    assert.equal(
      upstream.seen.filter((s) => s.url === '/delay/cancelled').length,
      0,
      'the delayed request never went upstream',
    );
  });

  it('samples by percent: 0 never, 50 some', async () => {
    const never = await request({ port: proxy.port, path: '/never' });
    assert.equal(never.status, 200);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 60; i++) {
      const s = (await request({ port: proxy.port, path: '/half' })).status;
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(500) ?? 0) > 0, JSON.stringify([...statuses]));
    assert.equal(statuses.size, 2);
    assert.equal(proxy.stats.policy.faults.series({ route: 'half', kind: 'abort' }).value, statuses.get(500));
  });
});

describe('fault validation', () => {
  it('refuses an unknown gRPC status name', () => {
    const config = policyConfig(
      [{ backends: [{ cluster: 'c' }], fault: { abort: { grpcStatus: 'NOT_A_STATUS' } } }],
      { c: { ports: [1] } },
    );
    assert.throws(
      () => parseConfigText(JSON.stringify(config), 'fault.json'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.diagnostics.some(
          (d) => d.path.endsWith('routes[0].fault.abort.grpcStatus') && /unknown gRPC/.test(d.message),
        ),
    );
  });
});
