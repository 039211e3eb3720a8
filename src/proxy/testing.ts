// For tests: a request as a listener hands it to the stack.
import type { ProxyRequest } from './types.ts';

/** GET / from 127.0.0.1:1 over HTTP/1.1 on listener "test", starting now; `over` replaces any field. */
export function testRequest(over: Partial<ProxyRequest> = {}): ProxyRequest {
  return {
    method: 'GET',
    scheme: 'http',
    authority: 'svc.test',
    path: '/',
    headers: [],
    protocol: 'http1',
    grpc: false,
    bodyLength: 0,
    expectContinue: false,
    source: { address: '127.0.0.1', port: 1 },
    listener: 'test',
    startTime: performance.now(),
    ...over,
  };
}
