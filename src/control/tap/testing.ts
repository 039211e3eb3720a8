// A client of `POST /api/v1/tap` for tests: the NDJSON lines as they come, and a way to leave.
import http from 'node:http';
import type { TestContext } from 'node:test';
import { TapLine } from '../../tap/event.ts';
import { defer, waitFor } from '../testing.ts';
import type { TapBody } from './api-tap.ts';

export interface TapClient {
  status: number;
  /** The lines read so far (the body of an error answer, parsed, when status is not 200). */
  lines: TapLine[];
  error: { code: string; message: string } | undefined;
  /** Resolves when the answer ended (the tap stopped, or the client left). */
  ended: Promise<void>;
  /** Leaves: closes the connection. */
  close(): void;
  /** The first line `match` accepts, once read (bounded in time). */
  waitLine<T extends TapLine>(what: string, match: (l: TapLine) => l is T, timeoutMs?: number): Promise<T>;
}

export function openTap(
  t: TestContext,
  base: string,
  body: TapBody | unknown,
  token: string | null | undefined,
): Promise<TapClient> {
  const u = new URL('/api/v1/tap', base);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: u.pathname,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const lines: TapLine[] = [];
        let partial = '';
        let raw = '';
        let endedResolve: () => void = () => {};
        const ended = new Promise<void>((r) => (endedResolve = r));
        const client: TapClient = {
          status: res.statusCode ?? 0,
          lines,
          error: undefined,
          ended,
          close: () => req.destroy(),
          waitLine: (what, match, timeoutMs = 5000) => waitFor(what, () => lines.find(match), timeoutMs, 10),
        };
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (client.status !== 200) return void (raw += d);
          partial += d;
          for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
            lines.push(TapLine.parse(JSON.parse(partial.slice(0, nl))));
            partial = partial.slice(nl + 1);
          }
        });
        const done = (): void => {
          if (client.status !== 200 && raw !== '')
            client.error = (JSON.parse(raw) as { error: { code: string; message: string } }).error;
          endedResolve();
        };
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => {});
        defer(t, () => req.destroy());
        if (client.status === 200) resolve(client);
        else void ended.then(() => resolve(client));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
