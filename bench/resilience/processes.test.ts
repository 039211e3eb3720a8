import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killAll } from '../proc.ts';
import { httpGet, Instance } from './processes.ts';

test('an instance answers 1 KB, turns slow and fast on its side endpoint, and restarts on its port after SIGKILL', async (t) => {
  const a = new Instance('A', 1);
  t.after(async () => {
    await a.kill();
    killAll();
  });
  await a.start();
  const url = `http://127.0.0.1:${a.port}/`;
  const first = await httpGet(url);
  assert.equal(first.status, 200);
  assert.equal(first.body.length, 1024);

  await a.setDelay(150);
  const started = performance.now();
  assert.equal((await httpGet(url)).status, 200);
  assert.ok(performance.now() - started >= 140, 'the answer waited for the delay');
  await a.setDelay(0);
  assert.equal((await httpGet(url)).status, 200);
  assert.deepEqual(await a.stats(), { requests: 3, delayed: 1, delay_ms: 0 });
  await assert.rejects(a.setDelay(-1), /answered 400/);

  const port = a.port;
  const pid = a.pid;
  await a.kill();
  assert.equal((await httpGet(url)).status, 0, 'nothing listens after SIGKILL');
  assert.equal(await a.stats(), null);
  await a.start();
  assert.equal(a.port, port, 'restarted on the same port');
  assert.notEqual(a.pid, pid);
  assert.equal((await httpGet(url)).status, 200);
  assert.deepEqual(await a.stats(), { requests: 1, delayed: 0, delay_ms: 0 });
});
