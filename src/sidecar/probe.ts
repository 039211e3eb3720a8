// Readiness of the app next to the sidecar: a TCP connect to its port, or an HTTP GET on a path
// (2xx/3xx is ready), every `intervalMs`. What it reports is what the control plane publishes as
// the endpoint's health.
import net from 'node:net';

// As in the admin server: an ESM import of node:http would load Node's bundled undici (+12 MB).
const { get: httpGet } = process.getBuiltinModule('node:http');

export type ProbeSpec = { kind: 'tcp' } | { kind: 'http'; path: string };

function probeOnce(port: number, spec: ProbeSpec, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (spec.kind === 'tcp') {
      const s = net.connect({ host: '127.0.0.1', port });
      s.setTimeout(timeoutMs, () => (s.destroy(), resolve(false)));
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
      return;
    }
    const req = httpGet(
      { host: '127.0.0.1', port, path: spec.path, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 400);
      },
    );
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

export class ReadinessProbe {
  private readonly port: number;
  private readonly spec: ProbeSpec;
  private readonly intervalMs: number;
  private readonly onChange: (ready: boolean) => void;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  ready = false;

  constructor(port: number, spec: ProbeSpec, intervalMs: number, onChange: (ready: boolean) => void) {
    this.port = port;
    this.spec = spec;
    this.intervalMs = intervalMs;
    this.onChange = onChange;
  }

  start(): void {
    const tick = async (): Promise<void> => {
      if (this.running) return;
      this.running = true;
      const ok = await probeOnce(this.port, this.spec, Math.min(1000, this.intervalMs));
      this.running = false;
      if (ok !== this.ready) {
        this.ready = ok;
        this.onChange(ok);
      }
    };
    void tick();
    this.timer = setInterval(() => void tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
