// The hot path's header bytes: common names matched on raw bytes in any case, heads written in
// place with exactly the bytes the string serialisation gives, and the collector that uses both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonHeaderName } from './header-names.ts';
import { headLength, serializeHeaders, statusLine, writeHead } from './headers.ts';
import { RawHeaderCollector } from './raw-headers.ts';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

test('commonHeaderName: any case of a known name is its shared lower-case string', () => {
  for (const raw of ['Content-Length', 'content-length', 'CONTENT-LENGTH', 'cOnTeNt-LeNgTh']) {
    const b = bytes(`xx${raw}yy`);
    assert.equal(commonHeaderName(b, 2, 2 + raw.length), 'content-length');
  }
  assert.equal(commonHeaderName(bytes('Host'), 0, 4), 'host');
  assert.equal(commonHeaderName(bytes('TE'), 0, 2), 'te');
});

test('commonHeaderName: near misses and unknown names are not matched', () => {
  // Same length as "content-type", one byte off; "_" is not "-" and bit 0x20 must not fold it.
  for (const raw of ['content-typf', 'content_type', 'content\x0dtype', 'x-custom', 'hosts', 'hos', '']) {
    assert.equal(commonHeaderName(bytes(raw), 0, raw.length), undefined, raw);
  }
  // Non-ASCII bytes that fold to ASCII letters under | 0x20 are not letters.
  assert.equal(commonHeaderName(Buffer.from([0xc8, 0x4f, 0x53, 0x54]), 0, 4), undefined);
});

test('RawHeaderCollector: names split across reads are joined, values too, names lower-cased', () => {
  const c = new RawHeaderCollector();
  const part = (s: string): [Buffer, number, number] => [bytes(s), 0, s.length];
  c.field(...part('Host')); // a common name's first piece ("Host" of "Hostname")
  c.field(...part('Name'));
  c.value(...part('a'));
  c.value(...part('b'));
  c.field(...part('X-Custom'));
  c.value(...part('V'));
  c.field(...part('Content-Length'));
  c.value(...part('12'));
  assert.deepEqual(c.list, ['hostname', 'ab', 'x-custom', 'V', 'content-length', '12']);
});

test('writeHead writes the same bytes as the string serialisation, and headLength counts them', () => {
  const headers = ['content-type', 'text/plain', 'x-latin1', 'caf\u00e9', 'empty', ''];
  const first = statusLine(200);
  const last = 'connection: close\r\n\r\n';
  const n = headLength(first, headers, last);
  const out = Buffer.alloc(n + 4, 0xff);
  assert.equal(writeHead(out, 2, first, headers, last), 2 + n);
  assert.deepEqual(out.subarray(2, 2 + n), Buffer.from(first + serializeHeaders(headers) + last, 'latin1'));
  assert.deepEqual(
    [...out.subarray(0, 2), ...out.subarray(2 + n)],
    [0xff, 0xff, 0xff, 0xff],
    'nothing outside',
  );
  assert.equal(headLength('', [], '\r\n'), 2);
});
