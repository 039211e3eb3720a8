import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lifeLeft } from './life.ts';

const cert = { spiffeId: 'spiffe://cluster.local/ns/default/sa/web', serial: 'ab', chain: '' };
const issuedAt = '2026-01-01T00:00:00.000Z';
const notAfter = '2026-01-02T00:00:00.000Z'; // a 24 h certificate
const at = (iso: string): number => Date.parse(iso);

describe('lifeLeft', () => {
  it('is valid until a third of the life is left, then late, then expired', () => {
    const c = { ...cert, issuedAt, notAfter };
    assert.equal(lifeLeft(c, at('2026-01-01T01:00:00Z')).tone, 'good');
    assert.equal(lifeLeft(c, at('2026-01-01T15:00:00Z')).tone, 'good');
    assert.equal(lifeLeft(c, at('2026-01-01T17:00:00Z')).tone, 'warn');
    assert.match(lifeLeft(c, at('2026-01-01T18:00:00Z')).text, /renewal late \(25% of life left\)/);
    assert.deepEqual(lifeLeft(c, at('2026-01-02T00:00:00Z')), { tone: 'bad', text: 'expired' });
  });
});
