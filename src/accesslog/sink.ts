// Where access-log lines go: stdout ("-") or a file, one JSON line per request written by pino.
// A file is opened once per path and process and kept across reloads, so a reload neither
// reopens it nor interleaves two descriptors; its writes are synchronous (a line is on disk when
// the request ends, and a crash loses none). Stdout is written asynchronously (a slow reader of
// the pipe must not stall the proxy) and flushed by pino when the process exits.
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { TrellisError } from '../errors.ts';
import type { AccessLogEntry } from './entry.ts';

export const STDOUT = '-';

/** The access log's file could not be opened; the config that names it is refused. */
export const AccessLogOpenError = (file: string, cause: unknown): TrellisError =>
  new TrellisError(
    'TRELLIS_ACCESS_LOG_OPEN_FAILED',
    `cannot open the access log ${file}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { cause },
  );

type Destination = ReturnType<typeof pino.destination>;

export class AccessLogSink {
  /** "-" or the absolute path of the file. */
  readonly path: string;
  /** Lines lost to write errors (a full disk, a closed pipe); the proxy keeps serving. */
  dropped = 0;
  private readonly dest: Destination;
  private readonly logger: Logger;

  constructor(target: string) {
    this.path = target;
    try {
      this.dest =
        target === STDOUT
          ? pino.destination({ dest: 1, sync: false })
          : pino.destination({ dest: target, sync: true, append: true, mkdir: true });
    } catch (err) {
      throw AccessLogOpenError(target, err);
    }
    this.dest.on('error', () => this.dropped++);
    // No level, pid or hostname: `"type":"access"` opens each line, then the entry's fields.
    this.logger = pino(
      { base: null, timestamp: false, formatters: { level: () => ({ type: 'access' }) } },
      this.dest,
    );
  }

  write(entry: AccessLogEntry): void {
    try {
      this.logger.info(entry);
    } catch {
      this.dropped++;
    }
  }

  /** Writes out what is buffered (stdout); files are written as they go. */
  flush(): void {
    try {
      this.dest.flushSync();
    } catch {
      // Not open yet, or the reader is gone: nothing more can be done now.
    }
  }

  close(): void {
    this.flush();
    this.dest.end();
  }
}

const sinks = new Map<string, AccessLogSink>();

/** The sink for `target` ("-" or a file path), opened on first use and shared from then on. */
export function openAccessLog(target: string): AccessLogSink {
  const key = target === STDOUT ? STDOUT : path.resolve(target);
  let sink = sinks.get(key);
  if (sink === undefined) {
    sink = new AccessLogSink(key);
    sinks.set(key, sink);
  }
  return sink;
}

/** Flushes every open sink (call on drain, before the process exits). */
export function flushAccessLogs(): void {
  for (const s of sinks.values()) s.flush();
}

/** Closes the sink of `target`; a later config naming it opens it again. */
export function closeAccessLog(target: string): void {
  const key = target === STDOUT ? STDOUT : path.resolve(target);
  const sink = sinks.get(key);
  if (sink === undefined) return;
  sinks.delete(key);
  sink.close();
}
