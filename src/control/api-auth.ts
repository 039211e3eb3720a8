// Who may call the control plane's API. Two bearer tokens, made at first start: `admin` (everything)
// and `reader` (GET only). The store keeps only their sha256 (so etcd replicas share them); the
// plaintext goes once into files of mode 0600 in the state directory, where the CLI finds it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { StoreConflictError } from '../store/errors.ts';
import type { Store } from '../store/types.ts';
import { ApiError } from './errors.ts';

export type ApiRole = 'admin' | 'reader';

/** One key per role under this prefix; the value is StoredApiToken. */
export const API_TOKENS_PREFIX = 'identity/api-tokens/';
/** Where `trellis up` writes each token, inside its --dir. */
export const API_TOKEN_FILES: Readonly<Record<ApiRole, string>> = {
  admin: 'admin-token',
  reader: 'reader-token',
};

const StoredApiToken = z.object({
  role: z.enum(['admin', 'reader']),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
});
type StoredApiToken = z.infer<typeof StoredApiToken>;

/** Longer than any token we make; bounds the hashing work an unauthenticated caller can ask for. */
const MAX_TOKEN_LENGTH = 256;

export const WHERE_THE_TOKEN_IS =
  'pass --token, set TRELLIS_TOKEN, or run from the directory of `trellis up` (.trellis/admin-token)';

export const UnauthenticatedError = (given: boolean): ApiError =>
  new ApiError(
    'TRELLIS_UNAUTHENTICATED',
    401,
    `${given ? 'the API token sent is not valid for this control plane' : 'this API needs a token'}: ${WHERE_THE_TOKEN_IS}`,
  );

export const ForbiddenError = (role: ApiRole, method: string, pathname: string): ApiError =>
  new ApiError(
    'TRELLIS_FORBIDDEN',
    403,
    `the ${role} token may not ${method} ${pathname}; use the admin token (admin-token in the dir of \`trellis up\`)`,
  );

export interface ApiAuthOptions {
  /** State directory: tokens are created on first start and written here. Without it, only verified. */
  dir?: string;
  /** Where token events (join tokens created or revoked) are logged. */
  log?: Logger;
  /** How long the stored token hashes are trusted before re-reading the store (default 1000 ms). */
  cacheMs?: number;
}

/** What ensureApiTokens found or did, per role, for `trellis up` to report. */
export interface ApiTokensReport {
  /** Roles whose token this call created (and wrote to its file). */
  created: ApiRole[];
  /** Roles whose token is in the store but whose file in `dir` is missing or holds another token. */
  unknownLocally: ApiRole[];
  files: Record<ApiRole, string>;
}

export function newApiToken(role: ApiRole): string {
  return `trellis-${role}.${randomBytes(32).toString('base64url')}`;
}

function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function tokenFiles(dir: string): Record<ApiRole, string> {
  return { admin: path.join(dir, API_TOKEN_FILES.admin), reader: path.join(dir, API_TOKEN_FILES.reader) };
}

function readTokenFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function storedToken(store: Store, role: ApiRole): Promise<StoredApiToken | undefined> {
  const entry = await store.get(`${API_TOKENS_PREFIX}${role}`);
  return entry === undefined ? undefined : StoredApiToken.parse(entry.value);
}

/**
 * Creates the token of `role` unless the store has one. The file is written aside with mode 0600 from
 * its creation, and renamed into place only once the store took the hash: a replica that loses the
 * race (ifRevision 0) leaves no file with a token nobody accepts.
 */
async function createToken(store: Store, role: ApiRole, file: string): Promise<boolean> {
  const token = newApiToken(role);
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(aside, `${token}\n`, { mode: 0o600, flag: 'wx' });
  const record: StoredApiToken = {
    role,
    sha256: sha256(token).toString('hex'),
    createdAt: new Date().toISOString(),
  };
  try {
    await store.put(`${API_TOKENS_PREFIX}${role}`, record, { ifRevision: 0 });
  } catch (err) {
    await unlink(aside).catch(() => {});
    if (err instanceof StoreConflictError) return false;
    throw err;
  }
  await rename(aside, file);
  return true;
}

function fileMatches(file: string, stored: StoredApiToken): boolean {
  const local = readTokenFile(file);
  return local !== undefined && timingSafeEqual(sha256(local), Buffer.from(stored.sha256, 'hex'));
}

/**
 * At start: makes the admin token, then the reader token, when the store has none. The reader token
 * is made only by whoever holds the admin token here, so both files end up in one directory.
 */
export async function ensureApiTokens(store: Store, dir: string): Promise<ApiTokensReport> {
  const files = tokenFiles(dir);
  const report: ApiTokensReport = { created: [], unknownLocally: [], files };
  for (const role of ['admin', 'reader'] as const) {
    const holdsAdmin = report.created.includes('admin') || !report.unknownLocally.includes('admin');
    if (role === 'reader' && !holdsAdmin) {
      const reader = await storedToken(store, 'reader');
      if (reader === undefined || !fileMatches(files.reader, reader)) report.unknownLocally.push('reader');
      continue;
    }
    const stored = await storedToken(store, role);
    if (stored === undefined && (await createToken(store, role, files[role]))) report.created.push(role);
    else {
      const now = stored ?? (await storedToken(store, role));
      if (now === undefined || !fileMatches(files[role], now)) report.unknownLocally.push(role);
    }
  }
  return report;
}

/** Who may call a route: anyone, admins only, or by method (GET: reader, the rest: admin). */
export type Access = 'open' | 'admin' | 'byMethod';

/** Throws the 401 or 403 a caller of a non-open route gets; `tokenSent`: an Authorization header came. */
export function authorize(
  role: ApiRole | undefined,
  tokenSent: boolean,
  access: Exclude<Access, 'open'>,
  method: string,
  pathname: string,
): void {
  if (role === undefined) throw UnauthenticatedError(tokenSent);
  const needsAdmin = access === 'admin' || method !== 'GET';
  if (needsAdmin && role !== 'admin') throw ForbiddenError(role, method, pathname);
}

/** The bearer token of a request, or undefined when it sends none usable. */
export function bearerToken(req: http.IncomingMessage): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** Checks API tokens against the hashes in the store (re-read at most once per `cacheMs`). */
export class ApiAuth {
  readonly log: Logger | undefined;
  private readonly store: Store;
  private readonly cacheMs: number;
  private tokens: StoredApiToken[] = [];
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;

  constructor(store: Store, opts: Pick<ApiAuthOptions, 'cacheMs' | 'log'> = {}) {
    this.store = store;
    this.cacheMs = opts.cacheMs ?? 1000;
    this.log = opts.log;
  }

  /** Creates the tokens on first start when given a dir, then checks against the store. */
  static async open(store: Store, opts: ApiAuthOptions = {}): Promise<ApiAuth> {
    if (opts.dir !== undefined) await ensureApiTokens(store, opts.dir);
    const auth = new ApiAuth(store, opts);
    await auth.refresh();
    return auth;
  }

  /** The role of `token`, or undefined when it is no token of this control plane. */
  async roleOf(token: string | undefined): Promise<ApiRole | undefined> {
    if (token === undefined || token.length > MAX_TOKEN_LENGTH) return undefined;
    if (performance.now() - this.loadedAt > this.cacheMs) await this.refresh();
    const digest = sha256(token);
    let role: ApiRole | undefined;
    // Every stored hash is compared, in constant time each: nothing to learn from timing.
    for (const t of this.tokens) {
      if (timingSafeEqual(digest, Buffer.from(t.sha256, 'hex'))) role = t.role;
    }
    return role;
  }

  private refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const { entries } = await this.store.list(API_TOKENS_PREFIX);
        this.tokens = entries.flatMap((e) => {
          const parsed = StoredApiToken.safeParse(e.value);
          return parsed.success ? [parsed.data] : [];
        });
        this.loadedAt = performance.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}
