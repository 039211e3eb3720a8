// Where the control plane is, as the CLI finds it: --control URL, else $TRELLIS_CONTROL, else the
// control.json that `trellis up` writes in ./.trellis/, else the default local address. The API
// token comes the same way: --token, else $TRELLIS_TOKEN, else ./.trellis/admin-token.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { API_TOKEN_FILES } from '../control/api-auth.ts';

export const DEFAULT_CONTROL_PORT = 15080;
export const DEFAULT_DIR = '.trellis';
export const CONTROL_FILE = 'control.json';

export const ControlFile = z.object({ url: z.string().url(), pid: z.number().int() });
export type ControlFile = z.infer<typeof ControlFile>;

export const TOKEN_ENV = 'TRELLIS_TOKEN';
/** The help of every command's --token. */
export const TOKEN_HELP = `API token (default: $${TOKEN_ENV}, else ./${DEFAULT_DIR}/${API_TOKEN_FILES.admin})`;

export interface ApiToken {
  token: string;
  /** Where it came from, for error messages. */
  source: string;
}

export interface ControlTarget {
  urls: string[];
  /** Where the URL came from, for error messages. */
  source: string;
  /** Sent as `Authorization: Bearer`; none found: the API's 401 says what to do. */
  token?: ApiToken | undefined;
}

/** The control plane and the token to call its API with, from a command's --control and --token. */
export function resolveApiTarget(
  flags: { control?: string | undefined; token?: string | undefined },
  cwd = process.cwd(),
): ControlTarget {
  return { ...resolveControl(flags.control, cwd), token: resolveToken(flags.token, cwd) };
}

export function resolveToken(flag: string | undefined, cwd = process.cwd()): ApiToken | undefined {
  if (flag !== undefined && flag !== '') return { token: flag, source: '--token' };
  const env = process.env[TOKEN_ENV];
  if (env !== undefined && env !== '') return { token: env.trim(), source: TOKEN_ENV };
  const file = path.join(cwd, DEFAULT_DIR, API_TOKEN_FILES.admin);
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token === '' ? undefined : { token, source: file };
  } catch {
    return undefined;
  }
}

export function resolveControl(flag: string | undefined, cwd = process.cwd()): ControlTarget {
  if (flag !== undefined && flag !== '') return { urls: splitUrls(flag), source: '--control' };
  const env = process.env.TRELLIS_CONTROL;
  if (env !== undefined && env !== '') return { urls: splitUrls(env), source: 'TRELLIS_CONTROL' };
  const file = path.join(cwd, DEFAULT_DIR, CONTROL_FILE);
  try {
    const parsed = ControlFile.parse(JSON.parse(readFileSync(file, 'utf8')));
    return { urls: [parsed.url], source: file };
  } catch {
    return { urls: [`http://127.0.0.1:${DEFAULT_CONTROL_PORT}`], source: 'default' };
  }
}

/** Several replicas may be given, comma-separated; the stream fails over between them. */
function splitUrls(value: string): string[] {
  return value
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u !== '');
}
