// gRPC through the proxy with @grpc/grpc-js on both ends: all four call kinds, error status with
// trailing metadata, cancellation, and an unreachable upstream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Echo, echoService, type EchoReply, type EchoRequest } from '../../test/support/grpc-echo.ts';
import { freePort, startProxy, type TestProxy } from './test-support.ts';

const methods = Echo.service;

function method(name: string): grpc.MethodDefinition<EchoRequest, EchoReply> {
  const m = methods[name];
  if (m === undefined) throw new Error(`no method ${name}`);
  return m as grpc.MethodDefinition<EchoRequest, EchoReply>;
}

let cancelledOnServer: () => void = () => {};
const impl = echoService({ onCancelled: () => cancelledOnServer() });

function unary(client: grpc.Client, name: string, req: EchoRequest, md = new grpc.Metadata()) {
  const m = method(name);
  return new Promise<{ reply?: EchoReply; err?: grpc.ServiceError; headers?: grpc.Metadata }>((resolve) => {
    const call = client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      req,
      md,
      {},
      (err, reply) => resolve({ ...(err ? { err } : {}), ...(reply ? { reply } : {}), headers }),
    );
    let headers: grpc.Metadata | undefined;
    call.on('metadata', (h) => (headers = h));
  });
}

function collect(
  stream: grpc.ClientReadableStream<EchoReply> | grpc.ClientDuplexStream<EchoRequest, EchoReply>,
) {
  return new Promise<EchoReply[]>((resolve, reject) => {
    const out: EchoReply[] = [];
    stream.on('data', (m: EchoReply) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

describe('gRPC through the proxy', () => {
  let server: grpc.Server;
  let proxy: TestProxy;
  let client: grpc.Client;
  before(async () => {
    server = new grpc.Server();
    server.addService(methods, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    proxy = await startProxy(port);
    client = new grpc.Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await proxy.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('unary, with request and response metadata', async () => {
    const md = new grpc.Metadata();
    md.set('x-md', 'hello-md');
    const r = await unary(client, 'Unary', { text: 'hi', count: 0 }, md);
    assert.equal(r.err, undefined);
    assert.equal(r.reply?.text, 'echo:hi');
    assert.deepEqual(r.headers?.get('x-seen'), ['hello-md']);
  });

  it('server streaming', async () => {
    const m = method('ServerStream');
    const stream = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {
      text: 'tick',
      count: 25,
    });
    const replies = await collect(stream);
    assert.equal(replies.length, 25);
    assert.deepEqual(
      replies.map((r) => r.index),
      Array.from({ length: 25 }, (_, i) => i),
    );
  });

  it('client streaming', async () => {
    const m = method('ClientStream');
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.makeClientStreamRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        (err, r) => (err ? reject(err) : r ? resolve(r) : reject(new Error('no reply'))),
      );
      for (const text of ['a', 'b', 'c']) call.write({ text, count: 0 });
      call.end();
    });
    assert.deepEqual(reply, { text: 'a+b+c', index: 3 });
  });

  it('bidirectional streaming', async () => {
    const m = method('Bidi');
    const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    const done = collect(call);
    const words = ['alpha', 'beta', 'gamma', 'delta'];
    for (const text of words) call.write({ text, count: 0 });
    call.end();
    const replies = await done;
    assert.deepEqual(
      replies.map((r) => r.text),
      words.map((w) => w.toUpperCase()),
    );
  });

  it('a non-OK status keeps its code, message and trailing metadata', async () => {
    const r = await unary(client, 'Fail', { text: '', count: 0 });
    assert.ok(r.err);
    assert.equal(r.err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(r.err.details, 'quota exhausted: 100% used');
    assert.deepEqual(r.err.metadata.get('x-detail'), ['quota for tenant-7']);
    assert.deepEqual(r.err.metadata.get('x-blob-bin'), [Buffer.from([0, 1, 2, 255])]);
    assert.deepEqual(r.err.metadata.get('x-trellis-error'), []);
  });

  it('a client cancel reaches the upstream handler', async () => {
    const m = method('ServerStream');
    const cancelled = new Promise<void>((resolve) => (cancelledOnServer = resolve));
    const stream = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {
      text: 'forever',
      count: 0,
    });
    stream.on('error', () => {});
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.cancel();
    await cancelled;
  });
});

describe('gRPC with the upstream down', () => {
  it('answers UNAVAILABLE with x-trellis-error', async (t) => {
    const proxy = await startProxy(await freePort());
    const client = new grpc.Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
    t.after(async () => {
      client.close();
      await proxy.close();
    });
    const r = await unary(client, 'Unary', { text: 'x', count: 0 });
    assert.ok(r.err);
    assert.equal(r.err.code, grpc.status.UNAVAILABLE);
    assert.match(r.err.details, /could not connect/);
    assert.deepEqual(r.err.metadata.get('x-trellis-error'), ['TRELLIS_UPSTREAM_CONNECT_FAILED']);
  });
});
