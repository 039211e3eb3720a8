// The real proxy process over its life: hot reload from the file watcher and SIGHUP, a rejected
// config that keeps the old one in force, a request in flight across a reload, and the drain
// on SIGTERM.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ProxyConfigInput } from '../../src/model/schema.ts';
import {
  cluster,
  eventually,
  httpRequest,
  simpleConfig,
  startHttpUpstream,
  startProxy,
  type ProxyProcess,
  type Upstream,
} from './harness.ts';

/** Answers with its name; /slow answers after `slowMs`. Counts the requests it has begun. */
async function upstream(name: string, slowMs: number): Promise<Upstream & { started: () => number }> {
  let started = 0;
  const u = await startHttpUpstream((req, res) => {
    started++;
    req.resume();
    const answer = (): void => void res.end(`${name} ${req.url}`);
    if (req.url === '/slow')
      setTimeout(answer, slowMs).unref(); // never holds the test process
    else answer();
  });
  return { ...u, started: () => started };
}

const configTo = (
  version: string,
  target: string,
  ports: Record<string, number>,
  extra: Partial<ProxyConfigInput> = {},
): ProxyConfigInput =>
  simpleConfig({
    version,
    routes: [{ backends: [{ cluster: target }] }],
    clusters: Object.entries(ports).map(([n, p]) => cluster(n, [p])),
    extra,
  });

describe('hot reload', () => {
  let a: Awaited<ReturnType<typeof upstream>>;
  let b: Awaited<ReturnType<typeof upstream>>;
  let proxy: ProxyProcess;
  let ports: Record<string, number>;
  const get = async (path = '/x'): Promise<string> =>
    (await httpRequest({ port: proxy.ports.main!, path })).body;

  before(async () => {
    a = await upstream('A', 800);
    b = await upstream('B', 800);
    ports = { a: a.port, b: b.port };
    proxy = await startProxy(configTo('v1', 'a', ports));
  });
  after(async () => {
    await proxy?.stop();
    await a?.close();
    await b?.close();
  });

  test('a changed file routes new requests to the new upstream; a request in flight finishes on the old one', async () => {
    assert.equal(await get(), 'A /x');
    const startedBefore = a.started();
    const slow = httpRequest({ port: proxy.ports.main!, path: '/slow' });
    await eventually(() => a.started() > startedBefore, 3000, 10);
    await proxy.writeConfig(configTo('v2', 'b', ports));
    await proxy.waitForLog((l) => l.msg === 'config reloaded' && l.version === 'v2', 5000);
    assert.equal(await get(), 'B /x');
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'A /slow');
    const dump = await proxy.adminGet('/config_dump');
    assert.equal((JSON.parse(dump.body) as { version: string }).version, 'v2');
  });

  test('an invalid file is rejected with file:line:column and the old config keeps serving', async () => {
    const logsBefore = proxy.logs.length;
    // Line 3, column 5: an unknown field inside the first listener.
    await proxy.writeConfig(
      'version: v-bad\nlisteners:\n  - bogusField: 1\n    name: main\n    direction: outbound\n    port: 0\n',
    );
    const err = await proxy.waitForLog(
      (l) => (l.level ?? 0) >= 50 && proxy.logs.indexOf(l) >= logsBefore,
      5000,
    );
    assert.match(String(err.msg), /proxy\.yaml:3:5: unknown field\(s\): bogusField/);
    assert.equal(await get(), 'B /x');
    const dump = await proxy.adminGet('/config_dump');
    assert.equal((JSON.parse(dump.body) as { version: string }).version, 'v2');
  });

  test('SIGHUP reloads the file', async () => {
    await proxy.writeConfig(configTo('v3', 'a', ports));
    await proxy.waitForLog((l) => l.msg === 'config reloaded' && l.version === 'v3', 5000);
    const bySignal = (): number =>
      proxy.logs.filter((l) => l.msg === 'config reloaded' && l.trigger === 'SIGHUP').length;
    assert.equal(bySignal(), 0);
    process.kill(proxy.pid, 'SIGHUP');
    // The log says what triggered each reload: a late file-watcher event cannot pass for the signal.
    await eventually(() => bySignal() === 1, 5000, 20);
    assert.equal(proxy.logs.find((l) => l.trigger === 'SIGHUP')?.version, 'v3');
    assert.ok(proxy.logs.some((l) => l.msg === 'config reloaded' && l.trigger === 'file'));
    assert.equal(await get(), 'A /x');
  });
});

describe('drain on SIGTERM', () => {
  test('the request in flight completes, new connections are refused, /ready is 503, exit 0', async (t) => {
    const slow = await upstream('S', 1000);
    t.after(() => slow.close());
    const proxy = await startProxy(configTo('d1', 's', { s: slow.port }, { drainTimeout: '8s' }));
    t.after(() => proxy.stop());
    const port = proxy.ports.main!;
    assert.equal((await proxy.adminGet('/ready')).status, 200);

    const inFlight = httpRequest({ port, path: '/slow' });
    await eventually(() => slow.started() === 1, 3000, 10);
    const sentAt = performance.now();
    process.kill(proxy.pid, 'SIGTERM');
    await eventually(async () => (await proxy.adminGet('/ready')).status === 503, 2000, 10);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve('connected')));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'S /slow');
    const exit = await proxy.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    // It left as soon as the last request finished, not at the 8 s drain deadline.
    assert.ok(performance.now() - sentAt < 6000, 'waited for the drain deadline');
  });

  test('a request still running at the drain deadline is cut and the process exits 0', async (t) => {
    const stuck = await upstream('T', 60_000);
    t.after(() => stuck.close());
    const proxy = await startProxy(configTo('d2', 't', { t: stuck.port }, { drainTimeout: '300ms' }));
    t.after(() => proxy.stop());
    const inFlight = httpRequest({ port: proxy.ports.main!, path: '/slow' }).then(
      (r) => `status ${r.status}`,
      (e: Error) => `error ${e.message}`,
    );
    await eventually(() => stuck.started() === 1, 3000, 10);
    process.kill(proxy.pid, 'SIGTERM');
    assert.deepEqual(await proxy.exited, { code: 0, signal: null });
    assert.match(await inFlight, /^error /);
  });
});
