// gRPC through the real proxy process (@grpc/grpc-js on both ends, cluster protocol grpc), on a
// detect listener and on an http2 listener: unary, server streaming, bidi streaming, and a
// non-OK status whose details and trailing metadata reach the client unchanged.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Echo, echoService, type EchoReply, type EchoRequest } from '../support/grpc-echo.ts';
import { cluster, startProxy, type ProxyProcess } from './harness.ts';

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
interface EchoClient extends grpc.Client {
  Unary(req: EchoRequest, md: grpc.Metadata, cb: Callback<EchoReply>): grpc.ClientUnaryCall;
  Fail(req: EchoRequest, cb: Callback<EchoReply>): grpc.ClientUnaryCall;
  ServerStream(req: EchoRequest): grpc.ClientReadableStream<EchoReply>;
  Bidi(): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

const impl = echoService();

let server: grpc.Server;
let proxy: ProxyProcess;
const clients: grpc.Client[] = [];

before(async () => {
  server = new grpc.Server();
  server.addService(Echo.service, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  proxy = await startProxy({
    version: 'grpc-e2e',
    listeners: [
      { name: 'detect', direction: 'outbound', port: 0, protocol: 'detect', routeTable: 'rt' },
      { name: 'h2', direction: 'outbound', port: 0, protocol: 'http2', routeTable: 'rt' },
    ],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          {
            name: 'echo',
            domains: ['*'],
            routes: [{ match: { path: { prefix: '/trellis.test.Echo/' } }, backends: [{ cluster: 'echo' }] }],
          },
        ],
      },
    ],
    clusters: [cluster('echo', [port], { protocol: 'grpc' })],
  });
});

after(async () => {
  for (const c of clients) c.close();
  await proxy?.stop();
  await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
});

function clientFor(listener: string): EchoClient {
  const c = new Echo(
    `127.0.0.1:${proxy.ports[listener]}`,
    grpc.credentials.createInsecure(),
  ) as unknown as EchoClient;
  clients.push(c);
  return c;
}

function collect<T>(stream: NodeJS.EventEmitter): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

for (const listener of ['detect', 'h2']) {
  test(`gRPC via the ${listener} listener: unary with metadata`, async () => {
    const client = clientFor(listener);
    const md = new grpc.Metadata();
    md.set('x-md', 'hello-md');
    let headers: grpc.Metadata | undefined;
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.Unary({ text: 'hi', count: 0 }, md, (err, r) => (err ? reject(err) : resolve(r!)));
      call.on('metadata', (h) => (headers = h));
    });
    assert.equal(reply.text, 'echo:hi');
    assert.equal(headers?.get('x-seen')[0], 'hello-md');
  });

  test(`gRPC via the ${listener} listener: server streaming`, async () => {
    const replies = await collect<EchoReply>(clientFor(listener).ServerStream({ text: 'tick', count: 25 }));
    assert.equal(replies.length, 25);
    assert.deepEqual(
      replies.map((r) => r.index),
      Array.from({ length: 25 }, (_, i) => i),
    );
  });

  test(`gRPC via the ${listener} listener: bidi streaming`, async () => {
    const call = clientFor(listener).Bidi();
    const got = collect<EchoReply>(call);
    for (const w of ['alpha', 'beta', 'gamma']) call.write({ text: w, count: 0 });
    call.end();
    assert.deepEqual(
      (await got).map((r) => r.text),
      ['ALPHA', 'BETA', 'GAMMA'],
    );
  });

  test(`gRPC via the ${listener} listener: non-OK status and trailing metadata preserved`, async () => {
    const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
      clientFor(listener).Fail({ text: '', count: 0 }, (e) =>
        e ? resolve(e) : reject(new Error('expected an error')),
      ),
    );
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(err.details, 'quota exhausted: 100% used');
    assert.equal(err.metadata.get('x-detail')[0], 'quota for tenant-7');
    assert.deepEqual(err.metadata.get('x-blob-bin')[0], Buffer.from([0, 1, 2, 255]));
  });
}
