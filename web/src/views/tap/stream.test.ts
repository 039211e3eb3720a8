import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTapLine } from './stream.ts';

describe('parseTapLine', () => {
  it('reads the lines of POST /api/v1/tap', () => {
    const started = parseTapLine(
      '{"type":"started","id":"x","target":{"kind":"service","namespace":"default","name":"reviews"},"direction":"inbound","proxies":2}',
    );
    assert.equal(started?.type, 'started');
    assert.deepEqual(parseTapLine('{"type":"heartbeat","proxies":1}'), { type: 'heartbeat', proxies: 1 });
    assert.equal(parseTapLine('{"type":"end","id":"1:0","status":200}')?.type, 'end');
  });

  it('skips blank lines, broken JSON and lines of a newer server', () => {
    for (const text of ['', '  ', '{"type":', '[1]', 'null', '{"type":"something-new"}', '{"kind":"req"}'])
      assert.equal(parseTapLine(text), undefined, text);
  });
});
