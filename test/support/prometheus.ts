// A real, throwaway Prometheus (Debian's `prometheus` package) on a loopback port, scraping given
// targets every second, with its config and TSDB in a temp dir; queried through its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { freePort, stopChild } from './child-process.ts';

export interface TestPrometheus {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** An instant query (`/api/v1/query`): the result's samples as label sets and numbers. */
  query: (promql: string) => Promise<Sample[]>;
  /** Kills Prometheus (by PID) and removes its temp dir. */
  stop: () => Promise<void>;
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface ScrapeTarget {
  job: string;
  /** host:port serving /metrics */
  address: string;
}

const START_ATTEMPTS = 3;
const READY_TIMEOUT_MS = 15_000;

/** /usr/bin/prometheus (Debian's package), else the first `prometheus` on PATH. */
export function findPrometheusBinary(): string | undefined {
  const candidates = [
    '/usr/bin/prometheus',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'prometheus')),
  ];
  return candidates.find((p) => p !== '' && existsSync(p));
}

export async function startPrometheus(targets: ScrapeTarget[]): Promise<TestPrometheus> {
  const bin = findPrometheusBinary();
  if (bin === undefined) {
    // Fails, never skips: CI must install it.
    throw new Error(
      'prometheus binary not found (looked for /usr/bin/prometheus and prometheus on PATH): run ' +
        '`scripts/system-deps.sh test` (installs the Debian package prometheus)',
    );
  }
  // The port is picked by binding port 0 and closing; another process may take it in between, so retry.
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(bin, targets);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`prometheus did not start after ${START_ATTEMPTS} attempts`, { cause: lastError });
}

/** Scrape config: 1 s interval (the timeout may not exceed it), static targets grouped by job. */
function configYaml(targets: ScrapeTarget[]): string {
  const jobs = new Map<string, string[]>();
  for (const t of targets) jobs.set(t.job, [...(jobs.get(t.job) ?? []), t.address]);
  const lines = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:'];
  for (const [job, addresses] of jobs) {
    lines.push(`  - job_name: ${JSON.stringify(job)}`, '    metrics_path: /metrics', '    static_configs:');
    lines.push(`      - targets: [${addresses.map((a) => JSON.stringify(a)).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

async function startOnce(bin: string, targets: ScrapeTarget[]): Promise<TestPrometheus> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'trellis-prometheus-'));
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, configYaml(targets));
  const child = spawn(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, query: (promql) => query(url, promql), stop };
}

const QueryResponse = z.object({
  status: z.literal('success'),
  data: z.union([
    z.object({
      resultType: z.literal('vector'),
      result: z.array(
        z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) }),
      ),
    }),
    z.object({ resultType: z.literal('scalar'), result: z.tuple([z.number(), z.string()]) }),
  ]),
});

async function query(url: string, promql: string): Promise<Sample[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`query ${promql} answered ${res.status}: ${JSON.stringify(body)}`);
  const { data } = QueryResponse.parse(body);
  // Prometheus writes sample values as strings ("NaN", "+Inf" included); Number() reads them all.
  if (data.resultType === 'scalar') return [{ metric: {}, value: Number(data.result[1]) }];
  return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr()}`,
      );
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`prometheus at ${url} not ready within ${READY_TIMEOUT_MS} ms:\n${stderr()}`);
}
