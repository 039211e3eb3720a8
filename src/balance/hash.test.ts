import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur3Bytes, murmur3String } from './hash.ts';

const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');

test('murmur3Bytes matches the published MurmurHash3 x86_32 vectors', () => {
  assert.equal(murmur3Bytes(ascii(''), 0), 0);
  assert.equal(murmur3Bytes(ascii(''), 1), 0x514e28b7);
  assert.equal(murmur3Bytes(ascii(''), 0xffffffff), 0x81f16f39);
  assert.equal(murmur3Bytes(new Uint8Array([0, 0, 0, 0]), 0), 0x2362f9de);
  assert.equal(murmur3Bytes(ascii('hello'), 0), 0x248bfa47);
  assert.equal(murmur3Bytes(ascii('Hello, world!'), 1234), 0xfaf6cdb3);
  assert.equal(murmur3Bytes(ascii('The quick brown fox jumps over the lazy dog'), 0), 0x2e4ff723);
});

test('murmur3String hashes the UTF-16LE encoding, for every tail length', () => {
  for (const s of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'naïve ☃ 𝄞', '10.0.0.1:8080_17']) {
    for (const seed of [0, 42, 0x9747b28c]) {
      assert.equal(murmur3String(s, seed), murmur3Bytes(Buffer.from(s, 'utf16le'), seed), `${s} / ${seed}`);
    }
  }
});

test('murmur3String spreads sequential keys evenly over buckets', () => {
  const buckets = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) buckets[murmur3String(`user-${i}`) & 15]!++;
  for (const n of buckets) assert.ok(n > 850 && n < 1150, `bucket ${n}`);
});
