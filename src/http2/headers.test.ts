// Header translation between the HeaderList model and node:http2, and the gRPC mappings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testRequest } from '../proxy/testing.ts';
import type { ProxyRequest } from '../proxy/types.ts';
import { requestHeaders } from './client-exchange.ts';
import { encodeGrpcMessage, grpcStatusForHttp, listToObject, objectToList, rawToList } from './headers.ts';

function req(over: Partial<ProxyRequest>): ProxyRequest {
  return testRequest({ authority: 'svc:80', listener: 'l', startTime: 0, ...over });
}

describe('HTTP/2 header translation', () => {
  it('requestHeaders: pseudo-headers first, HTTP/1 connection headers dropped', () => {
    const raw = requestHeaders(
      req({
        method: 'POST',
        path: '/a?b=c',
        headers: [
          'connection',
          'keep-alive',
          'keep-alive',
          'timeout=5',
          'transfer-encoding',
          'chunked',
          'upgrade',
          'h2c',
          'host',
          'svc',
          'te',
          'gzip',
          'expect',
          '100-continue',
          'x-a',
          '1',
          'x-a',
          '2',
        ],
      }),
    );
    assert.deepEqual(raw, [
      ':method',
      'POST',
      ':scheme',
      'http',
      ':authority',
      'svc:80',
      ':path',
      '/a?b=c',
      'x-a',
      '1',
      'x-a',
      '2',
      'content-length',
      '0',
    ]);
  });

  it('requestHeaders: content-length comes from bodyLength', () => {
    assert.deepEqual(
      requestHeaders(req({ method: 'PUT', bodyLength: 5, headers: ['content-length', '9'] })).slice(8),
      ['content-length', '5'],
    );
    assert.deepEqual(requestHeaders(req({ method: 'POST', bodyLength: 0 })).slice(8), [
      'content-length',
      '0',
    ]);
    assert.deepEqual(requestHeaders(req({ method: 'GET', bodyLength: 0 })).slice(8), []);
    assert.deepEqual(requestHeaders(req({ method: 'POST', bodyLength: -1 })).slice(8), []);
  });

  it('requestHeaders: gRPC gets te: trailers exactly once', () => {
    assert.deepEqual(
      requestHeaders(req({ grpc: true, headers: ['content-type', 'application/grpc'] })).slice(8),
      ['content-type', 'application/grpc', 'te', 'trailers'],
    );
    assert.deepEqual(requestHeaders(req({ grpc: true, headers: ['te', 'trailers'] })).slice(8), [
      'te',
      'trailers',
    ]);
  });

  it('list <-> object keeps repeated headers', () => {
    const obj = listToObject(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x', 'y', 'connection', 'close']);
    assert.deepEqual({ ...obj }, { 'set-cookie': ['a=1', 'b=2'], x: 'y' });
    assert.deepEqual(objectToList({ 'set-cookie': ['a=1', 'b=2'], x: 'y', ':status': '200' }), [
      'set-cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'x',
      'y',
    ]);
    assert.deepEqual(rawToList([':status', '200', 'x', '1', 'te', 'trailers', 'te', 'gzip']), [
      'x',
      '1',
      'te',
      'trailers',
    ]);
  });

  it('maps proxy HTTP statuses to gRPC codes', () => {
    assert.equal(grpcStatusForHttp(503), 14);
    assert.equal(grpcStatusForHttp(502), 14);
    assert.equal(grpcStatusForHttp(504), 4);
    assert.equal(grpcStatusForHttp(404), 12);
    assert.equal(grpcStatusForHttp(403), 7);
    assert.equal(grpcStatusForHttp(401), 16);
    assert.equal(grpcStatusForHttp(429), 14);
    assert.equal(grpcStatusForHttp(500), 13);
  });

  it('percent-encodes grpc-message', () => {
    assert.equal(encodeGrpcMessage('plain text'), 'plain text');
    assert.equal(encodeGrpcMessage('100% é\n'), '100%25 %C3%A9%0A');
  });
});
