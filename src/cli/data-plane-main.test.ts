// What a running proxy loads. The data-plane entry exists so that a proxy never carries the
// control plane, the dialects or the other commands, nor libraries its config does not use; and
// no module of it may ESM-import node:http, whose namespace loads Node's bundled undici.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { freePort, stopChild } from '../../test/support/child-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Records every module the process resolves and, at exit, Node's own modules it loaded.
const RECORDER = `
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const urls = new Set();
registerHooks({ resolve(s, c, next) { const r = next(s, c); urls.add(r.url); return r; } });
process.on('exit', () => writeFileSync(process.env.LOADED_FILE, JSON.stringify({ urls: [...urls], builtins: process.moduleLoadList })));
`;

const Loaded = z.object({ urls: z.array(z.string()), builtins: z.array(z.string()) });

test('a proxy loads the data plane only', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-loaded-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = path.join(dir, 'proxy.json');
  await writeFile(
    config,
    JSON.stringify({
      admin: { address: '127.0.0.1', port: adminPort },
      listeners: [
        {
          name: 'out',
          direction: 'outbound',
          address: '127.0.0.1',
          port,
          protocol: 'http1',
          routeTable: 'rt',
        },
      ],
      routeTables: [
        {
          name: 'rt',
          virtualHosts: [
            { name: 'all', domains: ['*'], routes: [{ name: 'r', backends: [{ cluster: 'up' }] }] },
          ],
        },
      ],
      clusters: [
        { name: 'up', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: await freePort() }] },
      ],
    }),
  );
  const loadedFile = path.join(dir, 'loaded.json');
  const child = spawn(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(RECORDER)}`,
      path.join(ROOT, 'bin/trellis.js'),
      'proxy',
      '--config',
      config,
    ],
    {
      env: { ...process.env, LOADED_FILE: loadedFile, TRELLIS_NODE_FLAGS: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  t.after(() => stopChild(child));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes('admin listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`proxy exited (${code}) before it listened`)));
  });
  await stopChild(child);
  const loaded = Loaded.parse(JSON.parse(await readFile(loadedFile, 'utf8')));
  const own = loaded.urls
    .filter((u) => u.startsWith(`file://${ROOT}`) && !u.includes('/node_modules/'))
    .map((u) =>
      u
        .slice(`file://${ROOT}`.length)
        .replace(/^(src|dist)\//, '')
        .replace(/\.[jt]s$/, ''),
    );
  assert.ok(own.includes('proxy/proxy-server'), 'the proxy server itself is loaded');
  assert.deepEqual(
    own.filter((m) => /^(dialects|resources|store\/(?!errors$)|control\/(?!(api-auth|errors)$))/.test(m)),
    [],
    'nothing of the control plane or the dialects',
  );
  assert.deepEqual(
    own.filter(
      (m) =>
        m.startsWith('cli/') &&
        !/^cli\/(data-plane-main|program|proxy-command|sidecar-command|workload-options|control-target|join-token|api-client)$/.test(
          m,
        ),
    ),
    [],
    'no other command',
  );
  // Libraries a config without JWT rules or regular expressions does not need.
  const packages = new Set(loaded.urls.map((u) => /\/node_modules\/((@[^/]+\/)?[^/]+)\//.exec(u)?.[1]));
  for (const lazy of ['jose', 're2js', '@opentelemetry/semantic-conventions'])
    assert.ok(!packages.has(lazy), `${lazy} is not loaded`);
  assert.ok(
    !loaded.builtins.includes('NativeModule internal/deps/undici/undici'),
    "Node's bundled undici is not loaded",
  );
});
