// The demo's steady client: RATE requests per second to http://web/ through its sidecar, and every
// 5 s a line with what came back: success rate and the reviews version split.
import { EnvHttpProxyAgent, fetch } from 'undici';

const rate = Number(process.env.RATE ?? 20);
const dispatcher = new EnvHttpProxyAgent();
let window = { sent: 0, ok: 0, failed: 0, versions: new Map<string, number>() };

setInterval(() => {
  window.sent++;
  fetch('http://web/', { dispatcher, signal: AbortSignal.timeout(5000) })
    .then(async (r) => {
      const body = (await r.json()) as { reviews?: string };
      if (!r.ok || body.reviews === undefined) throw new Error(String(r.status));
      window.ok++;
      window.versions.set(body.reviews, (window.versions.get(body.reviews) ?? 0) + 1);
    })
    .catch(() => window.failed++);
}, 1000 / rate);

setInterval(() => {
  const w = window;
  window = { sent: 0, ok: 0, failed: 0, versions: new Map() };
  const split = [...w.versions].sort().map(([v, n]) => `${v} ${((100 * n) / Math.max(1, w.ok)).toFixed(0)}%`);
  process.stdout.write(
    `[loadgen] last 5s: ${w.sent} requests, ${w.ok} ok, ${w.failed} failed; reviews split: ${split.join(' / ') || '-'}\n`,
  );
}, 5000);
process.on('SIGTERM', () => process.exit(0));
