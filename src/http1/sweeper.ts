// Coarse deadlines for connection timeouts. Arming a Node timer per request costs more than
// the rest of the request; instead each connection writes a number (its deadline) and one
// unref'd interval checks them. Precision is SWEEP_MS, which is plenty for timeouts in seconds.
const SWEEP_MS = 250;

export interface Expiring {
  /** performance.now() value after which onDeadline runs; 0 = none. */
  deadline: number;
  onDeadline(now: number): void;
}

const watched = new Set<Expiring>();
let timer: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = performance.now();
  for (const item of watched) {
    if (item.deadline !== 0 && item.deadline <= now) {
      item.deadline = 0;
      item.onDeadline(now);
    }
  }
}

export function watch(item: Expiring): void {
  watched.add(item);
  if (timer === undefined) {
    timer = setInterval(sweep, SWEEP_MS);
    timer.unref();
  }
}

export function unwatch(item: Expiring): void {
  watched.delete(item);
  if (watched.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}
