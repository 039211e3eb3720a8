// The control plane's API from the browser: JSON with the bearer token, one error class with the
// server's stable code, and the two streaming shapes (SSE for live data, NDJSON for tap).
import { storedToken } from './auth.ts';

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Called on any 401: the token is gone or revoked, the app goes back to sign-in. */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(f: () => void): void {
  onUnauthenticated = f;
}

export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = storedToken();
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  headers.set('x-trellis-author', 'dashboard');
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers });
  } catch (err) {
    throw new ApiError('TRELLIS_UNREACHABLE', 0, `the control plane did not answer (${String(err)})`);
  }
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) onUnauthenticated();
  throw new ApiError(code, res.status, message);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, signal === undefined ? {} : { signal });
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method: 'POST' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  return (await (await request(path, init)).json()) as T;
}

/** Reads `res`'s body as lines, calling `line` for each complete one. */
export async function readLines(res: Response, line: (text: string) => void): Promise<void> {
  if (res.body === null) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += value;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      line(rest.slice(0, nl).replace(/\r$/, ''));
      rest = rest.slice(nl + 1);
    }
  }
  if (rest !== '') line(rest);
}

/**
 * Server-Sent Events over fetch (EventSource cannot send an Authorization header). Resolves when
 * the server ends the stream; rejects on network errors and when `signal` aborts.
 */
export async function readEvents(
  path: string,
  signal: AbortSignal,
  onEvent: (event: string, data: string) => void,
): Promise<void> {
  const res = await request(path, { signal, headers: { accept: 'text/event-stream' } });
  let event = 'message';
  let data: string[] = [];
  await readLines(res, (line) => {
    if (line === '') {
      if (data.length > 0) onEvent(event, data.join('\n'));
      event = 'message';
      data = [];
    } else if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  });
}
