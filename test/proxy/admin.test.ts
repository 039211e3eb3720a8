// The admin endpoint of the real proxy process (probes, config dump, Prometheus counters after
// real traffic) and `--workers 2`: metrics summed over workers, no orphan after SIGTERM.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  cluster,
  eventually,
  freePort,
  httpRequest,
  simpleConfig,
  startNamedUpstream,
  startProxy,
  type ProxyProcess,
  type Upstream,
} from './harness.ts';

/** The value of the one sample whose name and labels are exactly these (labels in any order). */
function sample(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const got = new Map<string, string>();
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      got.set(m[1]!, m[2]!);
    if (got.size !== Object.keys(labels).length) continue;
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v))
      return Number(line.slice(close + 1).trim());
  }
  return undefined;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('admin endpoint', () => {
  let up: Upstream;
  let proxy: ProxyProcess;
  before(async () => {
    up = await startNamedUpstream('up');
    proxy = await startProxy(
      simpleConfig({
        version: 'admin-v7',
        routes: [
          { name: 'r-main', match: { path: { prefix: '/main' } }, backends: [{ cluster: 'c' }] },
          { name: 'r-other', backends: [{ cluster: 'c' }] },
        ],
        clusters: [cluster('c', [up.port])],
      }),
    );
  });
  after(async () => {
    await proxy?.stop();
    await up?.close();
  });

  test('/live and /ready answer 200', async () => {
    assert.deepEqual(await proxy.adminGet('/live'), { status: 200, body: 'ok\n' });
    assert.deepEqual(await proxy.adminGet('/ready'), { status: 200, body: 'ready\n' });
  });

  test('/config_dump shows the version from the file', async () => {
    const r = await proxy.adminGet('/config_dump');
    assert.equal(r.status, 200);
    const dump = JSON.parse(r.body) as { version: string; config: { listeners: { name: string }[] } };
    assert.equal(dump.version, 'admin-v7');
    assert.equal(dump.config.listeners[0]?.name, 'main');
  });

  test('/metrics counts requests per route and cluster; the histogram count matches', async () => {
    const N = 23;
    for (let i = 0; i < N; i++)
      assert.equal((await httpRequest({ port: proxy.ports.main!, path: `/main/${i}` })).status, 200);
    assert.equal((await httpRequest({ port: proxy.ports.main!, path: '/elsewhere' })).status, 200);
    const m = (await proxy.adminGet('/metrics')).body;
    const labels = { direction: 'outbound', listener: 'main', route: 'r-main', cluster: 'c' };
    assert.equal(sample(m, 'trellis_requests_total', labels), N, m);
    assert.equal(sample(m, 'trellis_request_duration_ms_count', labels), N);
    assert.equal(sample(m, 'trellis_responses_total', { ...labels, status_class: '2xx' }), N);
    assert.equal(sample(m, 'trellis_request_duration_ms_bucket', { ...labels, le: '+Inf' }), N);
    assert.equal(sample(m, 'trellis_requests_total', { ...labels, route: 'r-other' }), 1);
  });
});

/**
 * Established TCP connections on local `port`, counted per process that holds them: the socket
 * inodes of /proc/net/tcp matched against each pid's file descriptors.
 */
function establishedByPid(pids: number[], port: number): Map<number, number> {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (parseInt(f[1]!.split(':')[1]!, 16) === port && f[3] === '01') inodes.add(f[9]!);
  }
  const counts = new Map<number, number>();
  for (const pid of pids) {
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }));
      if (m && inodes.has(m[1]!)) n++;
    }
    counts.set(pid, n);
  }
  return counts;
}

describe('--workers 2', () => {
  test('serves on a fixed port, sums metrics in the primary, and leaves no orphan on SIGTERM', async (t) => {
    const up = await startNamedUpstream('up');
    t.after(() => up.close());
    const port = await freePort();
    const proxy = await startProxy(
      simpleConfig({
        version: 'workers-v1',
        listener: { port },
        routes: [{ name: 'r', backends: [{ cluster: 'c' }] }],
        clusters: [cluster('c', [up.port])],
      }),
      { workers: 2 },
    );
    t.after(() => proxy.stop());
    const workerPids = [
      ...new Set(proxy.logs.filter((l) => l.msg === 'proxy listening').map((l) => l.pid as number)),
    ];
    assert.equal(workerPids.length, 2);
    assert.ok(!workerPids.includes(proxy.pid));
    const N = 40;
    for (let i = 0; i < N; i++) {
      const r = await httpRequest({ port, path: `/w/${i}` });
      assert.equal(r.status, 200);
      assert.equal(r.body, `up GET /w/${i}`);
    }
    const labels = { direction: 'outbound', listener: 'main', route: 'r', cluster: 'c' };
    let m = '';
    await eventually(async () => {
      m = (await proxy.adminGet('/metrics')).body;
      return sample(m, 'trellis_requests_total', labels) === N;
    }, 5000).catch(() =>
      assert.fail(
        `requests_total != ${N}:\n${m
          .split('\n')
          .filter((l) => l.startsWith('trellis_requests'))
          .join('\n')}`,
      ),
    );
    assert.equal(sample(m, 'trellis_request_duration_ms_count', labels), N);
    assert.equal(
      (JSON.parse((await proxy.adminGet('/config_dump')).body) as { version: string }).version,
      'workers-v1',
    );

    // Both workers accept: 16 kept-alive connections, held open, land on both (the kernel spreads
    // them over the workers' SO_REUSEPORT sockets; all 16 on one worker: p = 2^-15).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    t.after(() => agent.destroy());
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => httpRequest({ port, path: `/spread/${i}`, agent })),
    );
    assert.ok(answers.every((r) => r.status === 200));
    const held = establishedByPid(workerPids, port);
    assert.equal(
      [...held.values()].reduce((a, b) => a + b, 0),
      16,
      `connections per worker: ${[...held]}`,
    );
    for (const [pid, n] of held) assert.ok(n > 0, `worker ${pid} accepted none of 16 connections`);
    agent.destroy();

    const exit = await proxy.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    await eventually(() => workerPids.every((pid) => !isAlive(pid)), 5000, 20).catch(() =>
      assert.fail(`workers still alive: ${workerPids.filter(isAlive).join(', ')}`),
    );
  });

  test('a worker that dies while the file is invalid comes back with the last good config', async (t) => {
    const up = await startNamedUpstream('up');
    t.after(() => up.close());
    const port = await freePort();
    const proxy = await startProxy(
      simpleConfig({
        version: 'good',
        listener: { port },
        routes: [{ name: 'r', backends: [{ cluster: 'c' }] }],
        clusters: [cluster('c', [up.port])],
      }),
      { workers: 2 },
    );
    t.after(() => proxy.stop());
    await proxy.writeConfig('listeners: [ {');
    await proxy.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('config rejected'));
    const listening = (): number => proxy.logs.filter((l) => l.msg === 'proxy listening').length;
    const victim = proxy.logs.find((l) => l.msg === 'proxy listening')!.pid as number;
    process.kill(victim, 'SIGKILL');
    await eventually(() => listening() === 3, 10_000).catch(() =>
      assert.fail('no replacement worker started listening'),
    );
    for (let i = 0; i < 10; i++) assert.equal((await httpRequest({ port, path: `/again/${i}` })).status, 200);
    assert.equal(
      (JSON.parse((await proxy.adminGet('/config_dump')).body) as { version: string }).version,
      'good',
    );
  });
});
