// The mTLS pair targets really put mutual TLS on the hop between their two proxies: a request goes
// through the pair, while the server-side proxy refuses plaintext and clients without a
// certificate, and presents the server's SPIFFE ID. Real processes (Trellis from its sources,
// nginx when installed) on loopback, behind a small Node upstream.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { spiffeIdOf } from '../src/tls/mesh-tls.ts';
import { PAIR_IDS, type MeshCertFiles, type PairCerts } from './mesh-certs.ts';
import type { RunningTarget, TargetContext } from './target-procs.ts';
import { BODY, startNginxPair } from './targets.ts';
import { startTrellisPair } from './targets-trellis.ts';

async function context(t: TestContext): Promise<TargetContext> {
  const tmp = mkdtempSync(join(tmpdir(), 'trellis-bench-mtls-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const upstream = http.createServer((_req, res) => res.end(BODY));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  upstream.unref();
  return { tmp, upstreamPort: (upstream.address() as AddressInfo).port, proxyCore: 0 };
}

interface Answer {
  status: number | undefined;
  body: string;
  /** The SPIFFE ID of the certificate the server presented (TLS only). */
  serverId?: string | undefined;
  error?: string;
}

/** One GET on a fresh connection; over TLS with `certs` (their key pair, or none) when given. */
function get(url: string, tls?: { bundle: string; certs: MeshCertFiles | undefined }): Promise<Answer> {
  return new Promise((resolve) => {
    const done = (a: Answer): void => resolve(a);
    const opts = {
      agent: false as const,
      timeout: 5000,
      ...(tls === undefined
        ? {}
        : {
            ca: readFileSync(tls.bundle),
            // SPIFFE IDs are URIs: the name is not checked, the presented ID is read below.
            checkServerIdentity: () => undefined,
            ...(tls.certs === undefined
              ? {}
              : { cert: readFileSync(tls.certs.certChainFile), key: readFileSync(tls.certs.privateKeyFile) }),
          }),
    };
    const req = (tls === undefined ? http : https).get(url, opts, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket;
      const serverId =
        tls === undefined ? undefined : spiffeIdOf(socket.getPeerX509Certificate()?.subjectAltName);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => done({ status: res.statusCode, body, serverId }));
      res.on('error', (err) => done({ status: res.statusCode, body, serverId, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done({ status: undefined, body: '', error: err.message }));
  });
}

async function assertMutualTls(
  pair: RunningTarget & { serverPort: number; certs?: PairCerts },
): Promise<void> {
  const through = await get(pair.url);
  assert.equal(through.status, 200, through.error);
  assert.equal(through.body, BODY);

  const certs = pair.certs;
  assert.ok(certs, 'the mTLS pair reports its certificates');
  const server = `127.0.0.1:${pair.serverPort}`;
  const plain = await get(`http://${server}/`);
  assert.notEqual(plain.status, 200, 'plaintext reached the upstream through the server-side proxy');

  const bundle = certs.client.trustBundleFile;
  const anonymous = await get(`https://${server}/`, { bundle, certs: undefined });
  assert.notEqual(anonymous.status, 200, 'a client without a certificate was served');

  const mutual = await get(`https://${server}/`, { bundle, certs: certs.client });
  assert.equal(mutual.status, 200, mutual.error);
  assert.equal(mutual.body, BODY);
  assert.equal(mutual.serverId, PAIR_IDS.server);
}

test('trellis-pair-mtls: mesh mTLS between the proxies, STRICT on the server side', async (t) => {
  const ctx = await context(t);
  const pair = await startTrellisPair(ctx, { mtls: true, entry: 'src' });
  t.after(() => pair.stop());
  assert.equal(pair.pids.length, 2);
  await assertMutualTls(pair);
});

const hasNginx = ((): boolean => {
  try {
    execFileSync('sh', ['-c', 'command -v nginx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test(
  'nginx-pair-mtls: TLS with client certificates between the two nginx',
  { skip: !hasNginx },
  async (t) => {
    const ctx = await context(t);
    const pair = await startNginxPair(ctx, { mtls: true });
    t.after(() => pair.stop());
    await assertMutualTls(pair);
  },
);
