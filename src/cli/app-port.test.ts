import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ephemeralLow, pickAppPort } from './app-port.ts';

test('app ports come from below the ephemeral range, where bind(0) never lands', async (t) => {
  const low = ephemeralLow();
  if (low - 20000 < 1000) {
    t.skip(`this host's ephemeral range starts at ${low}: no room below it, the kernel picks`);
    return;
  }
  for (let i = 0; i < 20; i++) {
    const port = await pickAppPort();
    assert.ok(port >= 20000 && port < low, `${port} is below ${low}`);
  }
});

test('a port something listens on is never picked', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const { port } = taken.address() as net.AddressInfo;
  // The first draw lands on the taken port (low = port + 1000 keeps the range at 1000 ports).
  let draws = 0;
  const picked = await pickAppPort(port + 1001, () =>
    draws++ === 0 ? (port - 20000 + 0.5) / (port + 1000 - 20000 + 1) : 0.5,
  );
  assert.notEqual(picked, port);
  assert.ok(draws >= 2);
});

test('the ephemeral range is read from the file, with a default when it cannot be', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-range-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'range');
  await writeFile(file, '40000\t60999\n');
  assert.equal(ephemeralLow(file), 40000);
  assert.equal(ephemeralLow(path.join(dir, 'missing')), 32768);
});

test('no room below the ephemeral range: the kernel picks', async () => {
  const port = await pickAppPort(20500);
  assert.ok(port > 0);
});
