// Helpers shared by the control-plane and sidecar tests: a control plane on a temporary SQLite
// store, plain HTTP requests to its API, and a raw push-stream client that records what it gets.
// Requests to a test control plane carry its admin token unless the test says otherwise.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ProxyConfig } from '../model/schema.ts';
import { openStore } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import { API_TOKEN_FILES } from './api-auth.ts';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './control-plane.ts';
import { PROTOCOL_VERSION, ServerMessage, STREAM_PATH, type WorkloadRegistration } from './protocol.ts';
import type { ProxyStatus, PushOptions } from './push-server.ts';
import type { RegistryOptions } from './registry.ts';

const cleanupStacks = new WeakMap<TestContext, (() => unknown)[]>();

/** Runs `fn` after the test, last registered first (servers before the dirs they use). */
export function defer(t: TestContext, fn: () => unknown): void {
  let stack = cleanupStacks.get(t);
  if (stack === undefined) {
    const fns: (() => unknown)[] = [];
    stack = fns;
    cleanupStacks.set(t, fns);
    t.after(async () => {
      for (const f of fns.reverse()) await f();
    });
  }
  stack.push(fn);
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-control-'));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls until `probe` returns something other than undefined/false; bounded by `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
}

export interface TestControlPlane extends ControlPlane {
  store: Store;
  dir: string;
  /** The API tokens `trellis up` would write into `dir` (undefined with `auth: false`). */
  adminToken: string | undefined;
  readerToken: string | undefined;
}

export interface TestControlPlaneOptions {
  dir?: string;
  port?: number;
  push?: Partial<PushOptions>;
  registry?: Partial<RegistryOptions>;
  /** Wraps the store the control plane uses (e.g. to make its watch lag). */
  wrapStore?: (store: Store) => Store;
  /** false: an API without authentication. */
  auth?: false;
  /** Push streams must present join tokens (default false here: most tests are about pushing). */
  streamAuth?: boolean;
  /** The CA and workload certificates (default on); false: a mesh without mTLS. */
  identity?: ControlPlaneOptions['identity'];
}

/** The admin token of each running test control plane, by origin: what httpRequest sends it. */
const adminTokens = new Map<string, string>();

/** A control plane on 127.0.0.1 with its own SQLite store; closed (store too) after the test. */
export async function startTestControlPlane(
  t: TestContext,
  opts: TestControlPlaneOptions = {},
): Promise<TestControlPlane> {
  const dir = opts.dir ?? tempDir(t);
  const store = await openStore({ dir });
  const cp = await startControlPlane({
    store: opts.wrapStore?.(store) ?? store,
    host: '127.0.0.1',
    port: opts.port ?? 0,
    ...(opts.push !== undefined ? { push: opts.push } : {}),
    ...(opts.registry !== undefined ? { registry: opts.registry } : {}),
    auth: opts.auth ?? { dir },
    streamAuth: opts.streamAuth ?? false,
    ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
  });
  const tokenIn = (file: string): string | undefined =>
    opts.auth === false ? undefined : readFileSync(join(dir, file), 'utf8').trim();
  const adminToken = tokenIn(API_TOKEN_FILES.admin);
  const origin = new URL(cp.url).origin;
  if (adminToken !== undefined) adminTokens.set(origin, adminToken);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // The port may go to another server of this test: it must not get the token.
      if (adminTokens.get(origin) === adminToken) adminTokens.delete(origin);
      await cp.close();
      await store.close();
    })());
  defer(t, close);
  return { ...cp, store, dir, close, adminToken, readerToken: tokenIn(API_TOKEN_FILES.reader) };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface HttpRequestOptions {
  method?: string;
  body?: string | Buffer;
  headers?: http.OutgoingHttpHeaders;
  path?: string;
  /** Bearer token; default: the admin token of the test control plane at that origin; null: none. */
  token?: string | null;
}

/** One request on a fresh connection (no agent: nothing lingers after the test). */
export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResult> {
  const u = new URL(url);
  const token = opts.token === undefined ? adminTokens.get(u.origin) : (opts.token ?? undefined);
  const headers =
    token !== undefined && opts.headers?.authorization === undefined
      ? { ...opts.headers, authorization: `Bearer ${token}` }
      : opts.headers;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method: opts.method ?? 'GET',
        path: opts.path ?? `${u.pathname}${u.search}`,
        headers,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    diagnostics?: { file: string; line: number; column: number; path: string; message: string }[];
  };
}

/** A JSON call to the control plane's API; `T` is what the test expects the body to be. */
export async function api<T = unknown>(
  base: string,
  method: string,
  path: string,
  body?: string,
  opts: { token?: string | null; contentType?: string } = {},
): Promise<{ status: number; body: T }> {
  const res = await httpRequest(`${base}${path}`, {
    method,
    ...(body !== undefined
      ? { body, headers: { 'content-type': opts.contentType ?? 'application/yaml' } }
      : {}),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
  return { status: res.status, body: JSON.parse(res.text) as T };
}

/** What `trellis proxy-status` shows, for every proxy or for one workload's. */
export async function proxyStatuses(base: string): Promise<ProxyStatus[]> {
  return (await api<{ items: ProxyStatus[] }>(base, 'GET', '/api/v1/proxies')).body.items;
}
export async function proxyStatus(base: string, workload: string): Promise<ProxyStatus | undefined> {
  return (await proxyStatuses(base)).find((p) => p.workload === workload);
}

/** A Service selecting `app: name`. */
export const serviceYaml = (name: string, namespace = 'default'): string => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { app: ${name} }
  ports: [{ port: 9080 }]
`;

/** A TrafficPolicy setting the connect timeout of `service`. */
export const policyYaml = (
  service: string,
  connectTimeout: string,
): string => `apiVersion: trellis.io/v1alpha1
kind: TrafficPolicy
metadata: { name: ${service}-policy }
spec: { service: ${service}, connectTimeout: ${connectTimeout} }
`;

let nextPort = 20_000;

/** A workload registration with ports no other registration of this process uses. */
export function registration(
  name: string,
  o: { service?: string; namespace?: string; address?: string; inbound?: number; ready?: boolean } = {},
): WorkloadRegistration {
  const service = o.service ?? 'reviews';
  return {
    name,
    namespace: o.namespace ?? 'default',
    labels: { app: service, version: 'v1' },
    spec: {
      service,
      serviceAccount: service,
      address: o.address ?? '127.0.0.1',
      ports: { inbound: o.inbound ?? nextPort++, app: nextPort++ },
      protocol: 'http',
      ready: o.ready ?? false,
    },
  };
}

export type SnapshotMessage = Extract<ServerMessage, { type: 'snapshot' }>;

/** A cluster of a pushed snapshot, by name. */
export function clusterOf(snap: SnapshotMessage, name: string): ProxyConfig['clusters'][number] | undefined {
  return ProxyConfig.parse(snap.config).clusters.find((c) => c.name === name);
}

/** A push-stream client speaking the protocol by hand, recording every server message. */
export class StreamClient {
  readonly ws: WebSocket;
  readonly messages: ServerMessage[] = [];
  /** Resolves with the close code and reason the client saw. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.messages.push(ServerMessage.parse(JSON.parse(data.toString())));
    });
    ws.on('error', () => {});
  }

  static async connect(t: TestContext, base: string): Promise<StreamClient> {
    const ws = new WebSocket(new URL(STREAM_PATH, base.replace(/^http/, 'ws')).toString());
    const client = new StreamClient(ws);
    defer(t, () => client.ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  hello(
    reg: WorkloadRegistration,
    o: { scope?: string[]; protocol?: number; transparent?: boolean } = {},
  ): void {
    this.send({
      type: 'hello',
      protocol: o.protocol ?? PROTOCOL_VERSION,
      proxy: {
        id: `${reg.name}.${reg.namespace}`,
        trellis: 'test',
        ...(o.transparent === true ? { transparent: true } : {}),
      },
      workload: reg,
      ...(o.scope !== undefined ? { scope: o.scope } : {}),
    });
  }

  /** hello, then the welcome and the first snapshot (ACKed unless told not to). */
  async register(
    reg: WorkloadRegistration,
    o: { scope?: string[]; ack?: boolean; transparent?: boolean } = {},
  ): Promise<SnapshotMessage> {
    this.hello(reg, {
      ...(o.scope !== undefined ? { scope: o.scope } : {}),
      ...(o.transparent === true ? { transparent: true } : {}),
    });
    await this.waitMessage('welcome', (m) => m.type === 'welcome');
    const first = await this.nextSnapshot(0);
    if (o.ack !== false) this.send({ type: 'ack', version: first.version });
    return first;
  }

  snapshots(): SnapshotMessage[] {
    return this.messages.filter((m): m is SnapshotMessage => m.type === 'snapshot');
  }

  /** The first snapshot received after `after` snapshots. */
  nextSnapshot(after: number, timeoutMs = 5000): Promise<SnapshotMessage> {
    return waitFor(`snapshot #${after + 1}`, () => this.snapshots()[after], timeoutMs);
  }

  waitMessage(what: string, match: (m: ServerMessage) => boolean, timeoutMs = 5000): Promise<ServerMessage> {
    return waitFor(what, () => this.messages.find(match), timeoutMs);
  }

  /** Resolves with the close the server chose, or rejects if it does not close within `timeoutMs`. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => {
      throw new Error(`stream not closed within ${timeoutMs}ms`);
    });
    return Promise.race([this.closed, timeout]);
  }
}
