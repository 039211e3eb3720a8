// Traffic and state for the mesh tests: requests through a sidecar's outbound listener (the way an
// app with HTTP_PROXY sends them) and direct reads of the control plane's REST API, used only to
// wait for a state; what a test asserts about the CLI it asserts through the CLI.
import http from 'node:http';
import { z } from 'zod';
import { adminTokenFor, waitUntil } from './harness.ts';

export interface Reply {
  status: number;
  body: string;
}

/** An HTTP client whose proxy is a sidecar's outbound port: absolute-form requests, as curl -x sends. */
export class MeshClient {
  private readonly port: number;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(outboundPort: number) {
    this.port = outboundPort;
  }

  get(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<Reply> {
    const target = new URL(url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method: 'GET',
          path: target.href,
          headers: { host: target.host, ...headers },
          agent: this.agent,
          timeout: timeoutMs,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** GET and parse the JSON the demo services and the fixture answer with; throws unless 200. */
  async json(url: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const r = await this.get(url, headers);
    if (r.status !== 200) throw new Error(`GET ${url} answered ${r.status}: ${r.body}`);
    return z.record(z.string(), z.unknown()).parse(JSON.parse(r.body));
  }

  /** `n` requests, `concurrency` at a time; counts answers by the `version` they carry. */
  async versions(url: string, n: number, headers: Record<string, string> = {}, concurrency = 8) {
    const counts = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        const v = String((await this.json(url, headers)).version);
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return counts;
  }

  close(): void {
    this.agent.destroy();
  }
}

const WorkloadItem = z.object({
  metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()) }),
  spec: z.object({
    service: z.string(),
    ready: z.boolean(),
    ports: z.object({ inbound: z.number(), outbound: z.number().optional(), app: z.number() }),
  }),
});
export type WorkloadItem = z.infer<typeof WorkloadItem>;

/** The admin token of the control plane at `control`, as the CLI would send it. */
function authorization(control: string): Record<string, string> {
  const token = adminTokenFor(control);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

export async function listWorkloads(control: string): Promise<WorkloadItem[]> {
  const res = await fetch(`${control}/api/v1/resources/Workload?namespace=default`, {
    headers: authorization(control),
    signal: AbortSignal.timeout(5000),
  });
  return z.object({ items: z.array(WorkloadItem) }).parse(await res.json()).items;
}

/** Waits until every named workload is registered and its app ready. */
export async function waitReady(control: string, names: string[], timeoutMs = 30_000): Promise<void> {
  await waitUntil(
    `workloads ready: ${names.join(', ')}`,
    async () => {
      const items = await listWorkloads(control);
      const ready = names.every((n) => items.some((w) => w.metadata.name === n && w.spec.ready));
      return ready ? true : undefined;
    },
    timeoutMs,
  );
}

const ProxyItem = z.object({
  workload: z.string(),
  sent: z.string().optional(),
  acked: z.string().optional(),
});

export async function listProxies(control: string): Promise<z.infer<typeof ProxyItem>[]> {
  const res = await fetch(`${control}/api/v1/proxies`, {
    headers: authorization(control),
    signal: AbortSignal.timeout(5000),
  });
  return z.object({ items: z.array(ProxyItem) }).parse(await res.json()).items;
}

/** Waits until the client reaches every version of the service, i.e. its proxy knows all endpoints. */
export async function waitVersions(client: MeshClient, url: string, versions: string[]): Promise<void> {
  await waitUntil(`${url} answered by ${versions.join(', ')}`, async () => {
    const seen = await client.versions(url, 4 * versions.length, {}, 1);
    return versions.every((v) => seen.has(v)) ? true : undefined;
  });
}
