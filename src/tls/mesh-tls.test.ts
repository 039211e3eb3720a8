// Mesh mTLS between two real proxies with certificates from a real CA: who is refused, who is
// let through, what the app learns, and rotation under continuous load without a failed request.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCaCertificate } from '../identity/root.ts';
import { openTestCa, tempDir, tempStore } from '../identity/testing.ts';
import {
  clientConfig,
  credentials,
  REVIEWS,
  reload,
  secretsOf,
  serverConfig,
  startEchoApp,
  startProxy,
  WEB,
} from './testing.ts';

async function get(port: number, path = '/'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { host: 'reviews' } });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: { text } };
  }
}

test('mesh mTLS: the caller is verified and named to the app; STRICT refuses plaintext', async (t) => {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const app = await startEchoApp(t);
  const server = await startProxy(t, serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle)));
  const client = await startProxy(
    t,
    clientConfig(server.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle)),
  );
  const res = await get(client.ports().outbound!, '/reviews/1');
  assert.equal(res.status, 200);
  assert.equal(res.body.xfcc, `By=${REVIEWS};URI=${WEB}`);
  assert.equal(res.body.url, '/reviews/1');

  // A plaintext client never reaches the app: the server expects a TLS ClientHello.
  await assert.rejects(fetch(`http://127.0.0.1:${server.ports().inbound}/`));
  // Nor does a TLS client without a certificate.
  const noCert = await new Promise<string>((resolve) => {
    const s = net.connect(server.ports().inbound!, '127.0.0.1') as net.Socket;
    s.on('connect', () => {
      void import('node:tls').then((tls) => {
        const secure = tls.connect({ socket: s, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
        secure.on('secureConnect', () => secure.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
        secure.on('data', (d: Buffer) => resolve(`answered: ${d.toString().split('\r\n')[0]}`));
        secure.on('error', (e) => resolve(`refused: ${e.message}`));
        secure.on('close', () => resolve('refused: closed'));
      });
    });
  });
  assert.match(noCert, /^refused/);
});

test('PERMISSIVE takes mTLS and plaintext on one port, told apart per connection', async (t) => {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const app = await startEchoApp(t);
  const server = await startProxy(
    t,
    serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle), { mode: 'PERMISSIVE' }),
  );
  const client = await startProxy(
    t,
    clientConfig(server.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle)),
  );
  assert.equal((await get(client.ports().outbound!)).body.xfcc, `By=${REVIEWS};URI=${WEB}`);
  const plain = await get(server.ports().inbound!);
  assert.equal(plain.status, 200);
  assert.equal(plain.body.xfcc, null, 'a plaintext caller has no identity');
});

test('refused: a client from another CA, a server from another CA, an expired certificate, the wrong SPIFFE ID', async (t) => {
  const store = await tempStore(t);
  // One root (from files), opened twice: with its clock two hours back, a one-hour certificate it
  // signs expired an hour ago; with today's clock it signs the valid ones.
  const dir = tempDir(t);
  const root = await createCaCertificate({
    subject: 'O=Trellis test, CN=root',
    ttlMs: 24 * 3_600_000,
    notBefore: new Date(Date.now() - 3 * 3_600_000),
  });
  writeFileSync(join(dir, 'ca.pem'), root.certPem);
  writeFileSync(join(dir, 'ca.key'), root.keyPem);
  const files = { caCertFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca.key') };
  const pastCa = await openTestCa(t, { ...files, now: () => Date.now() - 2 * 3_600_000 }, store);
  const ca = await openTestCa(t, files, store);
  const bundle = ca.trustBundlePem();
  const otherCa = await openTestCa(t);
  const app = await startEchoApp(t);
  const server = await startProxy(t, serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle)));
  const inbound = server.ports().inbound!;

  const cases: [string, Awaited<ReturnType<typeof credentials>>, string, string[]?][] = [
    ['client certificate from another CA', await credentials(otherCa, WEB), bundle],
    ['expired client certificate', await credentials(pastCa, WEB, 3_600_000), bundle],
    [
      'server is not the identity expected',
      await credentials(ca, WEB),
      bundle,
      ['spiffe://cluster.local/ns/default/sa/ratings'],
    ],
  ];
  for (const [what, creds, trust, identities] of cases) {
    const client = await startProxy(
      t,
      clientConfig(inbound, secretsOf(creds, trust), identities ? { identities } : {}),
    );
    const res = await get(client.ports().outbound!);
    assert.ok(res.status >= 502 && res.status <= 503, `${what}: got ${res.status}`);
  }
  // A server whose certificate another CA signed is refused by the client side.
  const rogue = await startProxy(
    t,
    serverConfig(app, secretsOf(await credentials(otherCa, REVIEWS), otherCa.trustBundlePem())),
  );
  const client = await startProxy(
    t,
    clientConfig(rogue.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle)),
  );
  const res = await get(client.ports().outbound!);
  assert.ok(res.status >= 502 && res.status <= 503, `rogue server: got ${res.status}`);
});

test('HTTP/2 stays multiplexed inside mesh TLS (ALPN h2), and opaque TCP crosses it too', async (t) => {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const app = await startEchoApp(t);
  const server = await startProxy(t, serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle)));
  const client = await startProxy(
    t,
    clientConfig(server.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle), {
      protocol: 'http2',
    }),
  );
  const session = http2.connect(`http://127.0.0.1:${client.ports().outbound}`);
  session.on('error', () => {});
  t.after(() => session.close());
  const bodies = await Promise.all(
    [1, 2, 3].map(
      (i) =>
        new Promise<string>((resolve, reject) => {
          const s = session.request({ ':path': `/h2/${i}`, ':authority': 'reviews' });
          let text = '';
          s.on('data', (d: Buffer) => (text += d.toString()));
          s.on('end', () => resolve(text));
          s.on('error', reject);
          s.end();
        }),
    ),
  );
  for (const [i, b] of bodies.entries()) {
    const body = JSON.parse(b) as { xfcc: string; url: string };
    assert.equal(body.url, `/h2/${i + 1}`);
    assert.equal(body.xfcc, `By=${REVIEWS};URI=${WEB}`);
  }

  // TCP: an echo server behind a tcp inbound listener, reached through a tcp outbound listener.
  const echo = net.createServer((s) => s.on('error', () => {}).pipe(s)).listen(0, '127.0.0.1');
  await once(echo, 'listening');
  t.after(() => echo.close());
  const tcpServer = await startProxy(
    t,
    serverConfig(
      (echo.address() as net.AddressInfo).port,
      secretsOf(await credentials(ca, REVIEWS), bundle),
      {
        protocol: 'tcp',
      },
    ),
  );
  const tcpClient = await startProxy(
    t,
    clientConfig(tcpServer.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle), {
      protocol: 'tcp',
    }),
  );
  const sock = net.connect(tcpClient.ports().outbound!, '127.0.0.1');
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  sock.write('ping over mesh tls');
  const [echoed] = (await once(sock, 'data')) as [Buffer];
  assert.equal(echoed.toString(), 'ping over mesh tls');
  // Plaintext TCP to the STRICT tcp listener is not relayed.
  const plain = net.connect(tcpServer.ports().inbound!, '127.0.0.1');
  plain.on('error', () => {}); // the refusal may be a reset
  t.after(() => plain.destroy());
  await once(plain, 'connect');
  plain.write('GET / HTTP/1.1\r\n\r\n');
  const outcome = await Promise.race([
    once(plain, 'data').then(() => 'echoed'),
    once(plain, 'close').then(() => 'closed'),
  ]);
  assert.equal(outcome, 'closed');
});

test('certificate rotation and a root rotation under continuous load: zero failed requests', async (t) => {
  const ca = await openTestCa(t);
  const app = await startEchoApp(t);
  let bundle = ca.trustBundlePem();
  const server = await startProxy(t, serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle)));
  const inbound = server.ports().inbound!;
  const client = await startProxy(t, clientConfig(inbound, secretsOf(await credentials(ca, WEB), bundle)));
  const outbound = client.ports().outbound!;

  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const loop = async (): Promise<void> => {
    for (let i = 0; running && i < 20_000; i++) {
      try {
        const res = await get(outbound);
        if (res.status === 200 && res.body.xfcc === `By=${REVIEWS};URI=${WEB}`) ok++;
        else failures.push(`${res.status} ${JSON.stringify(res.body)}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  const rounds = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await reload(server, serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle), {}, inbound));
      await reload(
        client,
        clientConfig(inbound, secretsOf(await credentials(ca, WEB), bundle), {}, outbound),
      );
    }
  };
  await rounds(3);
  // Root rotation: both roots trusted, new certificates from the new root, then the old root goes.
  await ca.rotateRoot();
  bundle = ca.trustBundlePem();
  await rounds(3);
  await ca.finishRotation();
  bundle = ca.trustBundlePem();
  await rounds(2);
  await new Promise((resolve) => setTimeout(resolve, 150));
  running = false;
  await Promise.all(loops);
  assert.deepEqual(failures, []);
  assert.ok(ok > 50, `only ${ok} requests completed`);
});
