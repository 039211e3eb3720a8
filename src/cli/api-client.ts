// The CLI's client of the control plane's REST API. Failures become CliError with an exit code
// scripts can trust: 1 refused, invalid or unauthorised (401/403), 3 control plane unreachable.
import { hostname, userInfo } from 'node:os';
import { TrellisError, type Diagnostic } from '../errors.ts';
import type { ControlTarget } from './control-target.ts';

/** Recorded in the config history with every change this CLI makes. */
const AUTHOR = `${process.env.TRELLIS_AUTHOR ?? userInfo().username}@${hostname()}`;

export const EXIT_REFUSED = 1;
export const EXIT_UNREACHABLE = 3;

export class CliError extends TrellisError {
  readonly exitCode: number;
  readonly diagnostics: Diagnostic[];
  constructor(code: string, message: string, exitCode: number, diagnostics: Diagnostic[] = []) {
    super(code, message);
    this.exitCode = exitCode;
    this.diagnostics = diagnostics;
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; diagnostics?: Diagnostic[] };
}

export class ControlApi {
  private readonly target: ControlTarget;

  constructor(target: ControlTarget) {
    this.target = target;
  }

  /** Tries each control-plane URL in turn (replicas); the first that answers decides. */
  async request<T>(
    method: string,
    path: string,
    body?: string,
    contentType = 'application/yaml',
    timeoutMs = 30_000,
  ): Promise<T> {
    let lastError: unknown;
    for (const base of this.target.urls) {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: {
            'x-trellis-author': AUTHOR,
            ...(this.target.token !== undefined
              ? { authorization: `Bearer ${this.target.token.token}` }
              : {}),
            ...(body !== undefined ? { 'content-type': contentType } : {}),
          },
          ...(body !== undefined ? { body } : {}),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        lastError = err;
        continue;
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError(
          'TRELLIS_BAD_RESPONSE',
          `${base} answered ${res.status} with non-JSON`,
          EXIT_REFUSED,
        );
      }
      if (!res.ok) {
        const e = (parsed as ErrorBody).error ?? {};
        // A refused token: say which one was sent, the API cannot know.
        const from =
          (res.status === 401 || res.status === 403) && this.target.token !== undefined
            ? ` (token from ${this.target.token.source})`
            : '';
        throw new CliError(
          e.code ?? 'TRELLIS_API_ERROR',
          `${e.message ?? `HTTP ${res.status}`}${from}`,
          EXIT_REFUSED,
          e.diagnostics ?? [],
        );
      }
      return parsed as T;
    }
    const cause =
      lastError instanceof Error
        ? ((lastError.cause as Error | undefined)?.message ?? lastError.message)
        : '';
    throw new CliError(
      'TRELLIS_CONTROL_UNREACHABLE',
      `cannot reach the control plane at ${this.target.urls.join(', ')} (from ${this.target.source}): ${cause}\n` +
        'Is `trellis up` running? Point to it with --control URL or TRELLIS_CONTROL.',
      EXIT_UNREACHABLE,
    );
  }
}
