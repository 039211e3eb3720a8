// The port `trellis run` gives an app that did not ask for one. It comes from below the kernel's
// ephemeral range: every sidecar binds its listeners to port 0, and a port the kernel hands out
// can never be one chosen here. A port probed free and closed again inside that range could be
// handed to a sidecar starting beside this one before the app binds it, and the control plane
// would then refuse one of the two workloads (TRELLIS_ADDRESS_IN_USE). Two `trellis run`s can
// still draw the same port in the same instant (about 1 in 12,000 per pair started together); the
// refusal then names the port, and `--port` sets it by hand.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Linux's default when /proc cannot be read (macOS uses 49152–65535, also above this range). */
const DEFAULT_EPHEMERAL_LOW = 32768;
/** Lowest port handed out: above the well-known and most registered service ports. */
const APP_PORT_LOW = 20000;
const ATTEMPTS = 64;

/** The first port of the kernel's ephemeral range. */
export function ephemeralLow(rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): number {
  try {
    const low = Number(readFileSync(rangeFile, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

/**
 * Binds 127.0.0.1:port (0: the kernel picks) and closes it again: the port bound, or the bind's
 * error when something listens there (on the wildcard address too, which would clash).
 */
function bindAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

/** A free port on 127.0.0.1, outside the ephemeral range when the range leaves room below it. */
export async function pickAppPort(low = ephemeralLow(), random: () => number = Math.random): Promise<number> {
  const high = low - 1;
  if (high - APP_PORT_LOW >= 1000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = APP_PORT_LOW + Math.floor(random() * (high - APP_PORT_LOW + 1));
      if (
        await bindAndRelease(port).then(
          () => true,
          () => false,
        )
      )
        return port;
    }
  }
  // A lowered ephemeral range or a crowded host: any free port, as the kernel picks it.
  return bindAndRelease(0);
}
