// `trellis run --transparent` end to end. Everything runs in a "host" namespace this test makes
// (control plane, a plain workload on an address of that host, transparent workloads in their own
// namespaces joined to it by veth), so no traffic leaves it. Unmodified apps dial services by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ip } from './netns.ts';
import { fixture, netnsSkipReason, runInNetns } from './test-support.ts';

const BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));
const HOST_ADDRESS = '10.213.250.1';

interface Proc {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/** Stops a process (SIGTERM: `trellis run` then cleans up its namespace), SIGKILL after 15 s. */
async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const killer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  await p.exited;
  clearTimeout(killer);
}

/** Started in the host namespace; `procs` is stopped (last first) before that namespace is deleted. */
function trellisIn(procs: Proc[], hub: string, cwd: string, args: string[]): Proc {
  const child = spawn('ip', ['netns', 'exec', hub, process.execPath, BIN, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TRELLIS_CONTROL: 'http://127.0.0.1:15080', NO_COLOR: '1' },
  });
  const output: string[] = [];
  for (const s of [child.stdout!, child.stderr!])
    createInterface({ input: s }).on('line', (l) => output.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = { child, output, exited };
  procs.push(proc);
  return proc;
}

async function waitFor(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('trellis run --transparent: apps dial services by name, peers reach the app through its sidecar', async (t) => {
  const why = netnsSkipReason();
  if (why) return t.skip(why);
  const tag = randomBytes(3).toString('hex');
  const hub = `trellis-test-${tag}-h`;
  ip(['netns', 'add', hub]);
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await stop(p);
    spawnSync('ip', ['netns', 'del', hub]);
  });
  ip(['link', 'set', 'lo', 'up'], hub);
  ip(['addr', 'add', `${HOST_ADDRESS}/32`, 'dev', 'lo'], hub);
  // Workload namespaces reach each other through the host namespace (ours: forwarding is ours to turn on).
  spawnSync('ip', ['netns', 'exec', hub, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  const dir = mkdtempSync(path.join(tmpdir(), 'trellis-transparent-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const up = trellisIn(procs, hub, dir, ['up', '--port', '15080']);
  await waitFor('the control plane', () => up.output.some((l) => l.includes('control plane listening')));
  // A plain workload on the host's address, and a transparent one in a namespace of its own.
  const app = (name: string): string[] => ['--', process.execPath, fixture('hello-app.ts'), name];
  const ratings = [
    'run',
    '--service',
    'ratings',
    '--port',
    '9080',
    '--address',
    HOST_ADDRESS,
    ...app('ratings'),
  ];
  trellisIn(procs, hub, dir, ratings);
  const details = trellisIn(procs, hub, dir, [
    'run',
    '--transparent',
    '--service',
    'details',
    '--port',
    '9081',
    ...app('details'),
  ]);
  await waitFor('details sidecar', () => details.output.some((l) => l.includes('snapshot applied')));

  const web = trellisIn(procs, hub, dir, [
    'run',
    '--transparent',
    '--service',
    'web',
    '--',
    process.execPath,
    fixture('dial-by-name.ts'),
    'http://ratings:9080/r',
    'http://details:9081/d',
  ]);
  assert.equal(await web.exited, 0, web.output.join('\n'));
  const line = web.output.find((l) => l.startsWith('{"proxyEnv"'));
  assert.ok(line, web.output.join('\n'));
  const report = JSON.parse(line) as { proxyEnv: string | null; results: { body?: string }[] };
  assert.equal(report.proxyEnv, null);
  assert.deepEqual(
    report.results.map((r) => r.body),
    ['ratings got ratings:9080 /r', 'details got details:9081 /d'],
  );

  // Inbound capture: a client outside the mesh dials details' own address on the app's port; the
  // app listens on 127.0.0.1 only, so only its sidecar (PREROUTING → inbound listener) can answer.
  const link = /(\d+\.\d+\.\d+\.\d+)\/30/.exec(ip(['-o', '-4', 'addr', 'show'], hub));
  assert.ok(link);
  const [a, b, c, d] = link[1]!.split('.').map(Number) as [number, number, number, number];
  const detailsAddress = `${a}.${b}.${c}.${d + 1}`;
  const probe = runInNetns(t, hub, fixture('intercept-client.ts'), [
    JSON.stringify([
      { host: detailsAddress, port: 9081, send: 'GET /in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' },
    ]),
  ]);
  const [answer] = (await probe.first) as (string | null)[];
  assert.match(answer ?? '', /details got x \/in$/);

  // Stopping removes the namespace (its veth end in the host goes with it) and the hosts file.
  details.child.kill('SIGTERM');
  assert.equal(await details.exited, 128 + 15); // the app's own status: it was stopped by SIGTERM
  assert.doesNotMatch(ip(['-o', 'link', 'show'], hub), /trl[0-9a-f]{8}/);
  assert.deepEqual(
    readdirSafe('/etc/netns').filter((n) => n.startsWith('trellis-details-') || n.startsWith('trellis-web-')),
    [],
  );
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
