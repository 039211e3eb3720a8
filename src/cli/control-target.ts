// Where the control plane is, as the CLI finds it: --control URL, else $TRELLIS_CONTROL, else the
// control.json that `trellis up` writes in ./.trellis/, else the default local address.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const DEFAULT_CONTROL_PORT = 15080;
export const DEFAULT_DIR = '.trellis';
export const CONTROL_FILE = 'control.json';

export const ControlFile = z.object({ url: z.string().url(), pid: z.number().int() });
export type ControlFile = z.infer<typeof ControlFile>;

export interface ControlTarget {
  urls: string[];
  /** Where the URL came from, for error messages. */
  source: string;
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
