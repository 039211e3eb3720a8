// `npm run dashboard:screenshots`: the dashboard's pictures in docs/dashboard/*.png (1400×900), taken
// in Chromium from the real demo mesh (`trellis demo`) once traffic flows: topology, a service
// (reviews), the canary, a tap with rows, the config history with a diff, security. Every wait is for
// content, bounded; the demo and the browser are stopped however the script ends.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  api,
  go,
  launchBrowser,
  openSignedIn,
  pollUntil,
  ROOT,
  signInUrl,
  startDemo,
  trellis,
  type Demo,
  type PageDocument,
} from '../test/dashboard/support.ts';

declare const document: PageDocument & { getElementById(id: string): { scrollIntoView(): void } | null };

const OUT = path.join(ROOT, 'docs/dashboard');
const VIEWPORT = { width: 1400, height: 900 };

/** Until the element at `selector` says a number above `min` (a weight, a share); bounded. */
async function waitForNumber(page: Page, selector: string, min = 0, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ([sel, m]) => {
      const text = document.querySelector(sel)?.textContent ?? '';
      return Number(/(\d+(?:\.\d+)?)/.exec(text)?.[1]) > m;
    },
    [selector, min] as const,
    { timeout },
  );
}

async function shot(page: Page, name: string): Promise<void> {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file });
  process.stdout.write(`  ${path.relative(ROOT, file)}\n`);
}

interface SeriesResponse {
  items: { name: string; points: { rps: number; successRate: number | null }[] }[];
}
interface StatsResponse {
  items: { name: string; stats: { successRate: number | null } | null }[];
}

/**
 * A minute of steady traffic: charts with a minute of points, and the first seconds' warm-up (slow
 * or failed first calls while sidecars take their config) out of the 1-minute window the views
 * show. Bounded: after 150 s the pictures are taken as they are, with a note.
 */
async function waitForSettledTraffic(demo: Demo): Promise<void> {
  try {
    await pollUntil(
      'a minute of steady traffic',
      async () => {
        const series = await api<SeriesResponse>(
          demo,
          '/api/v1/stats/series?kind=services&namespace=default&window=5m',
        );
        const busy = (name: string): number =>
          series.items.find((i) => i.name === name)?.points.filter((p) => p.rps > 0).length ?? 0;
        const web = await api<StatsResponse>(demo, '/api/v1/stats/services?namespace=default&window=1m');
        const success = web.items.find((i) => i.name === 'web')?.stats?.successRate ?? 0;
        return busy('web') >= 7 && busy('reviews') >= 7 && success >= 0.99 ? true : undefined;
      },
      150_000,
    );
  } catch (err) {
    process.stderr.write(`  (${String(err)}: taking the pictures anyway)\n`);
  }
}

/** The view's charts drawn (uPlot canvases); a young demo may have too few points: then without. */
async function charts(page: Page): Promise<void> {
  try {
    await page.waitForSelector('main .uplot canvas', { timeout: 30_000 });
  } catch {
    process.stderr.write('  (no chart drawn within 30 s: the picture has none)\n');
  }
}

async function topology(page: Page): Promise<void> {
  await go(page, '#/');
  await page.waitForSelector('[data-testid=topology] svg');
  for (const id of ['edge-default/loadgen-default/web', 'edge-default/web-default/reviews'])
    await page.waitForFunction(
      (e) => Number(document.querySelector(`[data-testid="${e}"]`)?.getAttribute('data-rps')) > 0,
      id,
      { timeout: 60_000 },
    );
  await shot(page, 'topology');
}

async function service(page: Page): Promise<void> {
  await go(page, '#/services/default/reviews');
  await page.waitForSelector('[data-testid=endpoints-table] tbody tr');
  await page.waitForFunction(() =>
    /\d\s*%/.test(document.querySelector('[data-testid=service-golden]')?.textContent ?? ''),
  );
  await charts(page);
  await shot(page, 'service');
}

async function canary(page: Page): Promise<void> {
  await go(page, '#/canary');
  await waitForNumber(page, '[data-testid="weight-reviews-reviews-v1"]');
  await waitForNumber(page, '[data-testid="observed-reviews-v2"]');
  await charts(page);
  await shot(page, 'canary');
}

async function tap(page: Page): Promise<void> {
  await go(page, '#/tap?target=service/default/reviews');
  // Enough rows to fill the picture (reviews serves ~20 requests a second).
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid=tap-row]').length >= 18,
    undefined,
    {
      timeout: 30_000,
    },
  );
  await page.click('[data-testid=tap-pause]');
  await shot(page, 'tap');
  await page.click('[data-testid=tap-stop]');
}

/** A canary step (80/20) applied with the CLI, so the history has a change with a telling diff. */
async function config(page: Page, demo: Demo): Promise<void> {
  const yaml = path.join(ROOT, 'examples/demo/canary.yaml');
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-screenshots-'));
  try {
    const file = path.join(dir, 'canary.yaml');
    const text = await readFile(yaml, 'utf8');
    await writeFile(file, text.replace('weight: 90', 'weight: 80').replace('weight: 10', 'weight: 20'));
    const r = await trellis(['apply', '-f', file, '--control', demo.url, '--token', demo.adminToken]);
    if (r.code !== 0) throw new Error(`trellis apply failed: ${r.stdout}${r.stderr}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const history = await api<{ items: { revision: number }[] }>(demo, '/api/v1/history');
  const last = history.items.at(-1);
  if (last === undefined) throw new Error('no history');
  await go(page, `#/config?kind=TrafficRoute&namespace=default&name=reviews-canary&rev=${last.revision}`);
  await page.waitForSelector(`[data-testid="history-row-${last.revision}"]`);
  await page.waitForSelector('.revision-diff .diff-add, .revision-diff .diff-del', { timeout: 30_000 });
  await page.evaluate(() => document.getElementById('config-history')?.scrollIntoView());
  await shot(page, 'config');
}

async function security(page: Page): Promise<void> {
  await go(page, '#/security');
  await page.waitForSelector('[data-testid=identities-table] tbody tr', { timeout: 30_000 });
  await page.waitForSelector('[data-testid=policy-edges-table] tbody tr', { timeout: 30_000 });
  // Down to "Policies by edge": the observed calls the demo's policies allow, then the pairs they deny.
  await page.mouse.wheel(0, 760);
  await page.waitForFunction(() => (globalThis as unknown as { scrollY: number }).scrollY > 0);
  await shot(page, 'security');
}

const abort = new AbortController();

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  process.stdout.write('Starting the demo mesh…\n');
  // The demo runs in its own process group: a Ctrl-C in this terminal reaches only this script,
  // which stops the demo (and the browser) before it exits.
  let demo: Demo | undefined;
  const launching: Promise<Browser> = launchBrowser();
  const cleanup = async (): Promise<void> => {
    await (await launching.catch(() => undefined))?.close();
    const stopped = await demo?.stop();
    if (stopped !== undefined && stopped.strays.length > 0)
      process.stderr.write(`the demo left processes behind: ${stopped.strays.join(' ')}\n`);
  };
  const interrupted = (): void => {
    abort.abort();
    if (demo !== undefined) void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    demo = await startDemo({ rate: 20, signal: abort.signal });
    const browser = await launching;
    const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light' });
    const page = await openSignedIn(context, await signInUrl(demo, demo.adminToken));
    process.stdout.write(`Demo at ${demo.url}; waiting for a minute of steady traffic, then:\n`);
    await waitForSettledTraffic(demo);
    await topology(page);
    await service(page);
    await canary(page);
    await tap(page);
    await config(page, demo);
    await security(page);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }
}

await main().catch((err: unknown) => {
  if (!abort.signal.aborted) throw err;
  process.stderr.write('Interrupted: the demo and the browser are stopped.\n');
  process.exitCode = 130;
});
