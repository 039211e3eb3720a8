// The real process: `trellis proxy --config FILE` as a child, fed a barrage of bad input (bad
// bytes, smuggling, oversized heads, random bytes, a slow head, an upstream that resets) must
// still be running afterwards and serve a valid request.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  parseResponses,
  proxyConfigText,
  rawExchange,
  startCountingUpstream,
  validGet,
  type CountingUpstream,
} from './support.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOST = 'Host: svc.test\r\n';

/** Starts the CLI and resolves with the bound port of listener "in" from its startup log line. */
function startChild(
  configFile: string,
): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'proxy', '--config', configFile], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${stderr}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code}:\n${stderr}`));
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr += text;
      for (const line of stderr.split('\n')) {
        if (!line.includes('"proxy listening"')) continue;
        const port = (JSON.parse(line) as { ports?: Record<string, number> }).ports?.['in'];
        if (port === undefined) continue;
        clearTimeout(timer);
        resolve({ child, port, stderr: () => stderr });
        return;
      }
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

describe('the proxy process survives bad input', () => {
  let upstream: CountingUpstream;
  let dir: string;
  let proxy: Awaited<ReturnType<typeof startChild>>;
  before(async () => {
    upstream = await startCountingUpstream();
    dir = await mkdtemp(join(tmpdir(), 'trellis-bad-input-'));
    const file = join(dir, 'proxy.yaml');
    await writeFile(file, proxyConfigText(upstream.port, { maxHeaderBytes: 4096, headersTimeout: '1s' }));
    proxy = await startChild(file);
  });
  after(async () => {
    if (proxy !== undefined) await stopChild(proxy.child);
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every bad request, keeps running, and serves a valid request afterwards', async () => {
    const barrage: Array<[string, number | null]> = [
      [`GET /ok HTTP/1.1\r\n${HOST}x-a: a\0b\r\n\r\n`, 400],
      [`GET /ok HTTP/1.1\r\n${HOST}x-a: a\r\n folded\r\n\r\n`, 400],
      [
        `POST /ok HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${HOST}\r\n`,
        400,
      ],
      [`POST /ok HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffff\r\n`, 400],
      [`GET /ok HTTP/1.1\r\n${HOST}x-big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`, 431],
      [`GET /${'u'.repeat(8000)} HTTP/1.1\r\n${HOST}\r\n`, 431],
      [`GET /ok HTTP/2.0\r\n${HOST}\r\n`, 505],
      ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 400],
      [`GET /ok HTTP/1.1\r\n${HOST}`, null], // incomplete head: cut at headersTimeout, 408
    ];
    let random = 0x5eed;
    for (let i = 0; i < 50; i++) {
      let junk = '';
      for (let k = 0; k < 64; k++) {
        random = (random * 1103515245 + 12345) >>> 0;
        junk += String.fromCharCode(random >>> 24);
      }
      barrage.push([junk, null]);
    }
    const results = await Promise.all(
      barrage.map(([bytes]) =>
        rawExchange(proxy.port, Buffer.from(bytes, 'latin1'), { quietMs: 3000, maxMs: 4000 }),
      ),
    );
    barrage.forEach(([bytes, status], i) => {
      const r = results[i]!;
      assert.equal(r.closed, true, `case ${i} ${JSON.stringify(bytes.slice(0, 60))}: the proxy must close`);
      const { responses, rest } = parseResponses(r.data);
      assert.equal(rest, '');
      if (status !== null)
        assert.deepEqual(
          responses.map((x) => x.status),
          [status],
          `case ${i}`,
        );
      else
        assert.ok(
          responses.every((x) => x.status >= 400 && x.status < 500),
          `case ${i}`,
        );
    });
    assert.ok(!upstream.paths.includes('/smuggled'));
    assert.equal(upstream.malformed(), 0);
    assert.equal(proxy.child.exitCode, null, `the proxy exited:\n${proxy.stderr()}`);
    assert.equal(proxy.child.signalCode, null);
    assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
  });
});
