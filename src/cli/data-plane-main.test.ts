// What a running proxy or sidecar loads. The data-plane entry exists so that neither carries the
// control plane, the dialects or the other commands, nor libraries its config does not use; and
// no module of theirs may ESM-import node:http, whose namespace loads Node's bundled undici.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

interface LoadedModules {
  /** Trellis's modules, as paths under src/ without extension ("proxy/proxy-server"). */
  own: string[];
  packages: Set<string>;
  builtins: string[];
}

/** Runs `trellis ARGS` until it logs `readyLine`, stops it, and tells what it had loaded. */
async function loadedBy(
  t: TestContext,
  dir: string,
  args: string[],
  readyLine: string,
): Promise<LoadedModules> {
  const loadedFile = path.join(dir, `loaded-${args[0]}.json`);
  const child = spawn(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(RECORDER)}`,
      path.join(ROOT, 'bin/trellis.js'),
      ...args,
    ],
    {
      env: { ...process.env, LOADED_FILE: loadedFile, TRELLIS_NODE_FLAGS: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  t.after(() => stopChild(child));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes(readyLine)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`trellis ${args[0]} exited (${code}) before "${readyLine}"`)),
    );
    child.once('error', reject);
  });
  await stopChild(child);
  const loaded = Loaded.parse(JSON.parse(await readFile(loadedFile, 'utf8')));
  const root = pathToFileURL(ROOT).href;
  return {
    own: loaded.urls
      .filter((u) => u.startsWith(root) && !u.includes('/node_modules/'))
      .map((u) =>
        u
          .slice(root.length)
          .replace(/^(src|dist)\//, '')
          .replace(/\.[jt]s$/, ''),
      ),
    packages: new Set(loaded.urls.flatMap((u) => /\/node_modules\/((@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? [])),
    builtins: loaded.builtins,
  };
}

const DATA_PLANE_COMMAND =
  /^cli\/(data-plane-main|program|proxy-command|sidecar-command|workload-options|control-target|join-token|api-client)$/;
// The control plane's modules a sidecar shares: its protocol's messages, errors and names.
const SHARED_CONTROL = /^control\/(api-auth|errors|protocol|stats\/message|tap\/messages|snapshot\/names)$/;

function assertDataPlaneOnly(loaded: LoadedModules): void {
  assert.deepEqual(
    loaded.own.filter(
      (m) => /^(dialects|resources)\//.test(m) || (m.startsWith('control/') && !SHARED_CONTROL.test(m)),
    ),
    [],
    'nothing of the control plane or the dialects',
  );
  assert.deepEqual(
    loaded.own.filter((m) => /^store\/(?!errors$)/.test(m)),
    [],
    'no store',
  );
  assert.deepEqual(
    loaded.own.filter((m) => m.startsWith('cli/') && !DATA_PLANE_COMMAND.test(m)),
    [],
    'no other command',
  );
  // Libraries a config without JWT rules or regular expressions does not need, and the CA's.
  for (const lazy of ['jose', 're2js', '@opentelemetry/semantic-conventions', '@peculiar/x509'])
    assert.ok(!loaded.packages.has(lazy), `${lazy} is not loaded`);
  // Node names its own modules "NativeModule <id>": the check below means something only if so.
  assert.ok(loaded.builtins.includes('NativeModule net'), 'process.moduleLoadList names modules as expected');
  assert.ok(
    !loaded.builtins.includes('NativeModule internal/deps/undici/undici'),
    "Node's bundled undici is not loaded",
  );
}

test('a proxy loads the data plane only', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-loaded-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [port, adminPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
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
        { name: 'up', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: upstreamPort }] },
      ],
    }),
  );
  const loaded = await loadedBy(t, dir, ['proxy', '--config', config], 'admin listening');
  assert.ok(loaded.own.includes('proxy/proxy-server'), 'the proxy server itself is loaded');
  assertDataPlaneOnly(loaded);
});

test('a sidecar loads the data plane only', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-loaded-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // No control plane listens there: the sidecar starts, serves its bootstrap config and retries.
  const control = `http://127.0.0.1:${await freePort()}`;
  const args = ['sidecar', '--control', control, '--service', 'reviews', '--port', String(await freePort())];
  const loaded = await loadedBy(t, dir, args, 'sidecar listening');
  assert.ok(loaded.own.includes('sidecar/sidecar'), 'the sidecar itself is loaded');
  assert.ok(loaded.own.includes('identity/csr-request'), 'it can make its certificate requests');
  assertDataPlaneOnly(loaded);
});
