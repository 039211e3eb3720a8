// Routing through the real proxy process: header match, weighted split, path exact / prefix /
// regex, and session affinity (ring_hash on a header, maglev on a cookie, ring_hash on the source
// address). Every upstream answers with its own name.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { cluster, startNamedUpstream, startProxy, type ProxyProcess, type Upstream } from './harness.ts';

const names = ['v1', 'v2', 'exact', 'prefix', 'regex', 's1', 's2', 's3'] as const;
const ups = new Map<string, Upstream>();
let proxy: ProxyProcess;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

before(async () => {
  for (const n of names) ups.set(n, await startNamedUpstream(n));
  const port = (n: string): number => ups.get(n)!.port;
  proxy = await startProxy({
    version: 'routing-e2e',
    listeners: [{ name: 'main', direction: 'outbound', port: 0, routeTable: 'rt' }],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          {
            name: 'reviews',
            domains: ['reviews'],
            routes: [
              { match: { headers: [{ name: 'end-user', exact: 'jason' }] }, backends: [{ cluster: 'v2' }] },
              { backends: [{ cluster: 'v1' }] },
            ],
          },
          {
            name: 'split',
            domains: ['split'],
            routes: [
              {
                backends: [
                  { cluster: 'v1', weight: 90 },
                  { cluster: 'v2', weight: 10 },
                ],
              },
            ],
          },
          {
            name: 'paths',
            domains: ['paths'],
            routes: [
              { match: { path: { exact: '/api' } }, backends: [{ cluster: 'exact' }] },
              { match: { path: { regex: '/api/v[0-9]+/items' } }, backends: [{ cluster: 'regex' }] },
              { match: { path: { prefix: '/api' } }, backends: [{ cluster: 'prefix' }] },
            ],
          },
          { name: 'sticky', domains: ['sticky'], routes: [{ backends: [{ cluster: 'sticky' }] }] },
          {
            name: 'sticky-cookie',
            domains: ['sticky-cookie'],
            routes: [{ backends: [{ cluster: 'sticky-cookie' }] }],
          },
          { name: 'sticky-ip', domains: ['sticky-ip'], routes: [{ backends: [{ cluster: 'sticky-ip' }] }] },
        ],
      },
    ],
    clusters: [
      ...['v1', 'v2', 'exact', 'prefix', 'regex'].map((n) => cluster(n, [port(n)])),
      cluster('sticky', [port('s1'), port('s2'), port('s3')], {
        lb: { policy: 'ring_hash', hash: { header: 'x-user' } },
      }),
      cluster('sticky-cookie', [port('s1'), port('s2'), port('s3')], {
        lb: { policy: 'maglev', hash: { cookie: 'session' } },
      }),
      cluster('sticky-ip', [port('s1'), port('s2'), port('s3')], {
        lb: { policy: 'ring_hash', hash: { sourceIp: true } },
      }),
    ],
  });
});

after(async () => {
  agent.destroy();
  await proxy?.stop();
  for (const u of ups.values()) await u.close();
});

/** The name of the upstream that answered; `from` is the client's source address (127.0.0.0/8). */
function hit(host: string, path = '/', headers: Record<string, string> = {}, from?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port: proxy.ports.main,
        path,
        // A source address of its own needs connections of its own.
        ...(from === undefined ? { agent } : { agent: false, localAddress: from }),
        headers: { host, ...headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(body.split(' ')[0]!)
            : reject(new Error(`${res.statusCode}: ${body}`)),
        );
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
  });
}

async function tally(n: number, send: () => Promise<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const batch = 25;
  for (let done = 0; done < n; done += batch) {
    const got = await Promise.all(Array.from({ length: Math.min(batch, n - done) }, send));
    for (const g of got) counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  return counts;
}

test('header match: end-user jason goes to v2, everyone else to v1', async () => {
  assert.equal(await hit('reviews', '/r', { 'end-user': 'jason' }), 'v2');
  assert.equal(await hit('reviews', '/r', { 'end-user': 'alice' }), 'v1');
  assert.equal(await hit('reviews', '/r'), 'v1');
  assert.equal(await hit('reviews', '/r', { 'end-user': 'Jason' }), 'v1', 'exact match is case-sensitive');
});

test('weighted split 90/10 over 10,000 requests stays within ±2%', async () => {
  // ±2 % is 6.7 standard deviations of the share over 10,000 requests: never a flake.
  const n = 10_000;
  const counts = await tally(n, () => hit('split'));
  const v1 = counts.get('v1') ?? 0;
  const v2 = counts.get('v2') ?? 0;
  assert.equal(v1 + v2, n);
  assert.ok(Math.abs(v2 / n - 0.1) <= 0.02, `v2 share ${((100 * v2) / n).toFixed(2)}%`);
});

test('path routes: exact, regex, prefix, and no match', async () => {
  assert.equal(await hit('paths', '/api'), 'exact');
  assert.equal(await hit('paths', '/api?x=1'), 'exact', 'the query is not part of the path');
  assert.equal(await hit('paths', '/api/v2/items'), 'regex');
  assert.equal(await hit('paths', '/api/v2/items/7'), 'prefix', 'regex matches the whole path');
  assert.equal(await hit('paths', '/api/other'), 'prefix');
  await assert.rejects(hit('paths', '/other'), /^Error: 404/);
});

test('ring_hash on x-user keeps each user on one endpoint', async () => {
  const seen = new Set<string>();
  // Twelve users over three endpoints whose ports (and so ring) change every run: p(all on one) = 3^-11.
  for (let k = 0; k < 12; k++) {
    const user = `user-${k}`;
    const counts = await tally(25, () => hit('sticky', '/s', { 'x-user': user }));
    assert.equal(counts.size, 1, `${user} was spread over ${[...counts.keys()].join(', ')}`);
    seen.add([...counts.keys()][0]!);
  }
  assert.ok(seen.size >= 2, 'twelve users all hashed to one endpoint');
});

test('maglev on the session cookie keeps each session on one endpoint, whatever the other cookies', async () => {
  const seen = new Set<string>();
  for (let k = 0; k < 12; k++) {
    const session = `s-${k}`;
    let i = 0;
    const counts = await tally(20, () =>
      // Other cookies change per request and the session cookie moves between first and last.
      hit('sticky-cookie', '/c', {
        cookie: i++ % 2 ? `session=${session}; n=${i}` : `theme=dark; n=${i}; session=${session}`,
      }),
    );
    assert.equal(counts.size, 1, `${session} was spread over ${[...counts.keys()].join(', ')}`);
    seen.add([...counts.keys()][0]!);
  }
  assert.ok(seen.size >= 2, 'twelve sessions all hashed to one endpoint');
});

test('ring_hash on the source address keeps each client address on one endpoint', async () => {
  const seen = new Set<string>();
  for (let k = 1; k <= 12; k++) {
    const from = `127.0.0.${k}`;
    const counts = await tally(10, () => hit('sticky-ip', '/ip', {}, from));
    assert.equal(counts.size, 1, `${from} was spread over ${[...counts.keys()].join(', ')}`);
    seen.add([...counts.keys()][0]!);
  }
  assert.ok(seen.size >= 2, 'twelve client addresses all hashed to one endpoint');
});
