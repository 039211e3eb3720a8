// The Echo gRPC service of src/http2/fixtures/echo.proto, loaded once for every gRPC test.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface EchoRequest {
  text: string;
  count: number;
}
export interface EchoReply {
  text: string;
  index: number;
}

const protoPath = fileURLToPath(new URL('../../src/http2/fixtures/echo.proto', import.meta.url));
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { defaults: true }));
export const Echo = ((pkg['trellis'] as grpc.GrpcObject)['test'] as grpc.GrpcObject)[
  'Echo'
] as grpc.ServiceClientConstructor;

/**
 * The Echo server: Unary echoes (and reports x-md as x-seen), ServerStream sends `count` replies
 * (or one and then waits, for text "forever"), ClientStream joins, Bidi upper-cases, Fail answers
 * RESOURCE_EXHAUSTED with trailing metadata.
 */
export function echoService(hooks: { onCancelled?: () => void } = {}): grpc.UntypedServiceImplementation {
  return {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
      const md = new grpc.Metadata();
      md.set('x-seen', String(call.metadata.get('x-md')[0] ?? ''));
      call.sendMetadata(md);
      cb(null, { text: `echo:${call.request.text}`, index: 0 });
    },
    ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      if (call.request.text === 'forever') {
        call.on('cancelled', () => hooks.onCancelled?.());
        call.write({ text: 'first', index: 0 });
        return;
      }
      for (let i = 0; i < call.request.count; i++) call.write({ text: call.request.text, index: i });
      call.end();
    },
    ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
      const parts: string[] = [];
      call.on('data', (m: EchoRequest) => parts.push(m.text));
      call.on('end', () => cb(null, { text: parts.join('+'), index: parts.length }));
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      let i = 0;
      call.on('data', (m: EchoRequest) => call.write({ text: m.text.toUpperCase(), index: i++ }));
      call.on('end', () => call.end());
    },
    Fail(_call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
      const md = new grpc.Metadata();
      md.set('x-detail', 'quota for tenant-7');
      md.set('x-blob-bin', Buffer.from([0, 1, 2, 255]));
      cb({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'quota exhausted: 100% used', metadata: md });
    },
  };
}
