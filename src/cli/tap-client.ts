// The CLI's client of `POST /api/v1/tap`: the target as the user names it (`service/NAME`,
// `workload/NAME`, or a bare service name), the request, and the NDJSON stream read line by line.
// Exit codes as for every command: 1 refused (bad input, unknown target, 403), 3 unreachable — and 3
// when the stream breaks before the tap was over.
import { parseDuration } from '../model/duration.ts';
import { TapLine } from '../tap/event.ts';
import type { TapBody } from '../control/tap/api-tap.ts';
import { CliError, EXIT_REFUSED, EXIT_UNREACHABLE } from './api-client.ts';
import type { ControlTarget } from './control-target.ts';

const KIND_NAMES: Readonly<Record<string, 'service' | 'workload'>> = {
  service: 'service',
  services: 'service',
  svc: 'service',
  workload: 'workload',
  workloads: 'workload',
  wl: 'workload',
};

export interface TapFlags {
  namespace: string;
  to?: string;
  method?: string;
  path?: string;
  authority?: string;
  maxRps?: string;
  headers?: boolean;
  bodies?: string;
  duration?: string;
}

function refused(message: string): CliError {
  return new CliError('TRELLIS_BAD_REQUEST', message, EXIT_REFUSED);
}

export function parseTapTarget(arg: string, namespace: string): TapBody['target'] {
  const slash = arg.indexOf('/');
  if (slash < 0) return { kind: 'service', namespace, name: arg };
  const kind = KIND_NAMES[arg.slice(0, slash).toLowerCase()];
  const name = arg.slice(slash + 1);
  if (kind === undefined || name === '')
    throw refused(`cannot tap "${arg}": give service/NAME, workload/NAME, or a service name`);
  return { kind, namespace, name };
}

export function parseDurationFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw refused(`--duration must be a duration such as 30s, 5m, 1h; got "${value}"`);
  return ms;
}

function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw refused(`${name} must be a whole number from ${min} to ${max}; got "${value}"`);
  return n;
}

/** The body of the API request for these flags. */
export function tapBody(targetArg: string, flags: TapFlags): TapBody {
  const durationMs = parseDurationFlag(flags.duration);
  const maxRps = intFlag('--max-rps', flags.maxRps, 1, 1000);
  const bodyBytes = intFlag('--bodies', flags.bodies, 0, 16384);
  return {
    target: parseTapTarget(targetArg, flags.namespace),
    filter: {
      ...(flags.method !== undefined ? { method: flags.method.toUpperCase() } : {}),
      ...(flags.path !== undefined ? { pathPrefix: flags.path } : {}),
      ...(flags.authority !== undefined ? { authority: flags.authority } : {}),
      ...(flags.to !== undefined ? { to: flags.to } : {}),
    },
    ...(maxRps !== undefined ? { maxRps } : {}),
    headers: flags.headers === true,
    ...(bodyBytes !== undefined ? { bodyBytes } : {}),
    ...(durationMs !== undefined ? { duration: durationMs } : {}),
  };
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/**
 * Runs a tap: calls `onLine` for every line until the control plane ends the stream (its duration),
 * or `signal` aborts (Ctrl-C): both are a normal end. Throws CliError otherwise.
 */
export async function streamTap(
  target: ControlTarget,
  body: TapBody,
  onLine: (line: TapLine) => void,
  signal: AbortSignal,
): Promise<void> {
  const text = JSON.stringify(body);
  let lastError: unknown;
  for (const base of target.urls) {
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1/tap`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(target.token !== undefined ? { authorization: `Bearer ${target.token.token}` } : {}),
        },
        body: text,
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      lastError = err;
      continue;
    }
    if (!res.ok) {
      const parsed = (await res.json().catch(() => ({}))) as ErrorBody;
      const from =
        (res.status === 401 || res.status === 403) && target.token !== undefined
          ? ` (token from ${target.token.source})`
          : '';
      throw new CliError(
        parsed.error?.code ?? 'TRELLIS_API_ERROR',
        `${parsed.error?.message ?? `HTTP ${res.status}`}${from}`,
        EXIT_REFUSED,
      );
    }
    await readLines(res, onLine, signal);
    return;
  }
  const cause =
    lastError instanceof Error ? ((lastError.cause as Error | undefined)?.message ?? lastError.message) : '';
  throw new CliError(
    'TRELLIS_CONTROL_UNREACHABLE',
    `cannot reach the control plane at ${target.urls.join(', ')} (from ${target.source}): ${cause}\n` +
      'Is `trellis up` running? Point to it with --control URL or TRELLIS_CONTROL.',
    EXIT_UNREACHABLE,
  );
}

async function readLines(res: Response, onLine: (line: TapLine) => void, signal: AbortSignal): Promise<void> {
  if (res.body === null) return;
  const decoder = new TextDecoder();
  let partial = '';
  try {
    for await (const chunk of res.body) {
      partial += decoder.decode(chunk, { stream: true });
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch {
          continue;
        }
        // A newer control plane may send lines this CLI does not know: skipped.
        const parsed = TapLine.safeParse(json);
        if (parsed.success) onLine(parsed.data);
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw new CliError(
      'TRELLIS_TAP_INTERRUPTED',
      `the tap stream broke: ${err instanceof Error ? err.message : String(err)}`,
      EXIT_UNREACHABLE,
    );
  }
}

/**
 * Aborts on Ctrl-C / SIGTERM, when stdout is closed (`trellis tap … | head`), and after `durationMs`
 * plus a grace, should the server not end it.
 */
export function tapSignal(durationMs: number | undefined): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  const stdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') throw err;
    stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.on('error', stdoutError);
  const timer = durationMs === undefined ? undefined : setTimeout(stop, durationMs + 5000);
  timer?.unref();
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', stdoutError);
      clearTimeout(timer);
    },
  };
}
