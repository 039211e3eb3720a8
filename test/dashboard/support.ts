// The dashboard's end-to-end support: the real demo mesh (`trellis demo`) as a child process, the
// CLI as a user runs it, and Debian's Chromium driven by playwright-core. The demo runs in its own
// process group, so its stop can be checked (every process it started is gone) and, if it hangs,
// finished by the group's id. Every wait here is bounded and waits for content, never for time.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { runNode, type CliRun } from '../support/child-process.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin/trellis.js');
export const CHROMIUM = '/usr/bin/chromium';

/** The environment of every trellis process: this Node first on PATH, no target from the caller's shell. */
function trellisEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter),
    NO_COLOR: '1',
  };
  delete env.TRELLIS_CONTROL;
  delete env.TRELLIS_TOKEN;
  delete env.TRELLIS_JOIN_TOKEN;
  return env;
}

export type { CliRun };

/** `node bin/trellis.js ARGS` to completion; killed after `timeoutMs`. */
export function trellis(args: string[], timeoutMs = 60_000): Promise<CliRun> {
  return runNode([BIN, ...args], { cwd: ROOT, env: trellisEnv(), timeoutMs });
}

/** How the demo ended: `strays` are processes of its group still alive after it exited. */
export interface DemoStop {
  code: number | null;
  signal: NodeJS.Signals | null;
  strays: number[];
  dirLeft: boolean;
}

export interface Demo {
  /** The control plane's URL. */
  url: string;
  /** The demo's temp dir (store, tokens). */
  dir: string;
  adminToken: string;
  readerToken: string;
  pid: number;
  output(): string;
  /** SIGINT, then checks the group is empty and the dir removed; idempotent. */
  stop(): Promise<DemoStop>;
}

/** PIDs whose process group is `pgid` (Linux /proc). */
export function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(name));
    } catch {
      // gone while we looked
    }
  }
  return pids;
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Starts `trellis demo --rate RATE` and resolves once it says the mesh is up (its services ready,
 * the load running, the canary applied). On failure or abort the demo's whole group is stopped first
 * (it runs in its own process group, so a Ctrl-C in the terminal does not reach it: stop it).
 */
export async function startDemo(
  opts: { rate?: number; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Demo> {
  const child = spawn(process.execPath, [BIN, 'demo', '--rate', String(opts.rate ?? 20)], {
    cwd: ROOT,
    env: trellisEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start trellis demo');
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let dir = '';
  let stopped: Promise<DemoStop> | undefined;
  const stop = (): Promise<DemoStop> => (stopped ??= stopDemo(pid, exited, () => dir));
  try {
    const ready = await until('the demo mesh up', opts.timeoutMs ?? 90_000, () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error('trellis demo exited during start-up');
      opts.signal?.throwIfAborted();
      return out.includes('The demo mesh is up') ? out : undefined;
    });
    const url = /API and push stream: (http:\/\/\S+)/.exec(ready)?.[1];
    const tokenFile = /API tokens: (\S+) \(admin\)/.exec(ready)?.[1];
    if (url === undefined || tokenFile === undefined)
      throw new Error(`no control URL or token file in the demo's output:\n${ready}`);
    dir = path.dirname(tokenFile);
    const adminToken = (await readFile(tokenFile, 'utf8')).trim();
    const readerToken = (await readFile(path.join(dir, 'reader-token'), 'utf8')).trim();
    return { url, dir, adminToken, readerToken, pid, output: () => out, stop };
  } catch (err) {
    dir ||= /state in (\S+?)\)/.exec(out)?.[1] ?? '';
    await stop();
    throw new Error(`${String(err)}\n-- trellis demo said:\n${out.slice(-4000)}`, { cause: err });
  }
}

async function stopDemo(
  pid: number,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  dirOf: () => string,
): Promise<DemoStop> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    // already gone
  }
  // The demo gives each child 8 s before SIGKILL; then it removes its dir and exits.
  const grace = new AbortController();
  const exit = await Promise.race([
    exited,
    sleep(30_000, undefined, { signal: grace.signal }).catch(() => undefined),
  ]);
  grace.abort(); // the timer would keep the test process alive for its remaining time
  // What the demo started may take a moment to be reaped after it exits.
  const deadline = Date.now() + 5000;
  let strays = processGroup(pid);
  while (strays.length > 0 && Date.now() < deadline) {
    await sleep(100);
    strays = processGroup(pid);
  }
  if (strays.length > 0 || exit === undefined) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group emptied meanwhile
    }
  }
  const dir = dirOf();
  const dirLeft = dir !== '' && existsSync(dir);
  if (dirLeft) await rm(dir, { recursive: true, force: true });
  return { code: exit?.code ?? null, signal: exit?.signal ?? 'SIGKILL', strays, dirLeft };
}

/** JSON from the demo's API with `token` (admin by default). */
export async function api<T>(demo: Demo, route: string, token = demo.adminToken): Promise<T> {
  const res = await fetch(`${demo.url}${route}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Polls `probe` until it returns a value (bounded); for API state, not the page. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (${String(last)})`}`);
    await sleep(250);
  }
}

/**
 * The sign-in URL `trellis dashboard --no-browser` prints for `token` (it checks the token and that
 * the dashboard is served first).
 */
export async function signInUrl(demo: Demo, token: string): Promise<string> {
  const r = await trellis(['dashboard', '--no-browser', '--control', demo.url, '--token', token]);
  const url = /(http:\/\/\S+\/dashboard\/#token=\S+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || url === undefined)
    throw new Error(`trellis dashboard failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return url;
}

/**
 * Debian's Chromium, headless; close it in t.after. Playwright's own SIGINT/SIGTERM handlers are off:
 * they would exit the process at once, before the caller has stopped the demo.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    handleSIGINT: false,
    handleSIGTERM: false,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--no-first-run',
    ],
    timeout: 60_000,
  });
}

/** Console errors and uncaught exceptions of every page of a context, as text. */
export function collectPageErrors(context: BrowserContext): string[] {
  const errors: string[] = [];
  const watch = (page: Page): void => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return errors;
}

/** A new page of the demo's dashboard, signed in through the URL `trellis dashboard` printed. */
export async function openSignedIn(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  // Signed in: the header shows the role and the live link.
  await page.waitForSelector('header.top nav');
  return page;
}

/**
 * What code run in the page (page.evaluate, waitForFunction) uses of the browser's globals: the
 * tests' tsconfig has no DOM lib, and those functions run in Chromium, not here. A file declares
 * `declare const document: PageDocument` for them.
 */
export interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
export type PageDocument = PageElement;
declare const location: { hash: string };

/** Moves the page to a hash route (#/canary) without a reload; a view may rewrite the query after. */
export async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate((h) => (location.hash = h), hash);
  const route = hash.split('?')[0];
  await page.waitForFunction((r) => location.hash.split('?')[0] === r, route, { timeout: 10_000 });
}
