// One way to make a logger: JSON lines on stderr (stdout belongs to the command's output), level
// from TRELLIS_LOG_LEVEL (default info).
import { pino, type Logger } from 'pino';

export function createLogger(name: string): Logger {
  return pino(
    { name, level: process.env.TRELLIS_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    pino.destination(2),
  );
}
