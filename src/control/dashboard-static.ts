// Serves the dashboard (web/, built by `npm run build` into dist/dashboard/) under /dashboard/.
// The files are read once into memory (a few hundred KiB; gzip made on first request), so a request
// never touches the disk and no path from a URL ever reaches the file system. The page itself holds
// nothing secret: it asks for an API token and calls the API with it, like the CLI.
import { readdir, readFile, stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const DASHBOARD_PATH = '/dashboard/';
/** src/control/ and dist/control/ are both two levels below the root, beside dist/dashboard/. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

// The page loads only its own scripts and styles and talks only to this origin.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

interface Asset {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  /** Vite names assets by content hash: they may be cached for good; index.html never. */
  immutable: boolean;
}

export class DashboardFiles {
  readonly #dir: string;
  #assets: Promise<Map<string, Asset> | undefined> | undefined;
  #builtAt: number | undefined;

  constructor(dir = DEFAULT_DASHBOARD_DIR) {
    this.#dir = dir;
  }

  /** Answers /, /dashboard and /dashboard/…; false for any other path. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    const pathname = new URL(req.url ?? '/', 'http://control').pathname;
    if (pathname === '/' || pathname === '/dashboard') {
      res.writeHead(302, { location: DASHBOARD_PATH, 'content-length': 0 });
      res.end();
      return true;
    }
    if (!pathname.startsWith(DASHBOARD_PATH)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'TRELLIS_METHOD_NOT_ALLOWED', `${req.method} not allowed on ${pathname}`);
      return true;
    }
    // A rebuild (npm run build) while the control plane runs is served from the next page load on.
    if (pathname === DASHBOARD_PATH) await this.#reloadIfRebuilt();
    const assets = await this.#load();
    if (assets === undefined) {
      sendText(
        res,
        503,
        'TRELLIS_DASHBOARD_NOT_BUILT',
        `the dashboard is not built (no ${path.join(this.#dir, 'index.html')}): run \`npm run build\``,
      );
      return true;
    }
    const rel = pathname.slice(DASHBOARD_PATH.length);
    const asset = assets.get(rel === '' ? 'index.html' : rel);
    if (asset === undefined) {
      sendText(res, 404, 'TRELLIS_NOT_FOUND', `no dashboard file ${pathname}`);
      return true;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && asset.body.length > 1024;
    let body = asset.body;
    if (gzip) body = asset.gzip ??= gzipSync(asset.body);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'content-length': body.length,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  async #reloadIfRebuilt(): Promise<void> {
    const mtime = await stat(path.join(this.#dir, 'index.html')).then(
      (st) => st.mtimeMs,
      () => undefined,
    );
    if (mtime !== this.#builtAt) {
      this.#builtAt = mtime;
      this.#assets = undefined;
    }
  }

  #load(): Promise<Map<string, Asset> | undefined> {
    this.#assets ??= readAssets(this.#dir).catch((err: unknown) => {
      // Not built yet: look again on the next request (a build may land while the plane runs).
      this.#assets = undefined;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    return this.#assets;
  }
}

async function readAssets(dir: string): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, full).split(path.sep).join('/');
    out.set(rel, {
      body: await readFile(full),
      type: TYPES[path.extname(e.name)] ?? 'application/octet-stream',
      immutable: rel.startsWith('assets/'),
    });
  }
  if (!out.has('index.html')) throw Object.assign(new Error('no index.html'), { code: 'ENOENT' });
  return out;
}

function sendText(res: http.ServerResponse, status: number, code: string, message: string): void {
  const text = `${code}: ${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
