// The control plane in one process: store → view → (API, registry, push stream). Several replicas
// can share one etcd; each keeps its own view by watching it and pushes to its own proxies.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from '../store/types.ts';
import { JoinTokens } from '../identity/join-tokens.ts';
import { handleApi, sendJson } from './api.ts';
import { DashboardFiles } from './dashboard-static.ts';
import { ApiAuth, type ApiAuthOptions } from './api-auth.ts';
import { MeshView } from './mesh-view.ts';
import {
  DEFAULT_IDENTITY,
  openStreamSecurity,
  type IdentityOptions,
  type MeshIdentity,
} from './mesh-identity.ts';
import { STREAM_PATH } from './protocol.ts';
import type { TelemetryDefaults } from './mesh-telemetry.ts';
import { PushServer, type PushOptions } from './push-server.ts';
import { WorkloadRegistry, type RegistryOptions } from './registry.ts';
import { VirtualIps } from './vip/allocator.ts';
import { meshVipSource } from './vip/mesh-source.ts';
import type { InterceptionOptions } from './vip/mesh-interception.ts';

export interface ControlPlaneOptions {
  store: Store;
  host: string;
  port: number;
  push?: Partial<PushOptions>;
  registry?: Partial<RegistryOptions>;
  /** API tokens (api-auth.ts), made at first start in `dir`; false only for tests and benchmarks. */
  auth?: ApiAuthOptions | false;
  /** The mesh CA and workload certificates; false: no mTLS (tests and benchmarks only). */
  identity?: Partial<IdentityOptions> | false;
  /** Push streams must present a join token (default: whenever `auth` is on). */
  streamAuth?: boolean;
  /** Where proxies send traces and write access logs when a Telemetry resource turns them on. */
  telemetry?: TelemetryDefaults;
  /** Service virtual IPs and the outbound traffic policy (transparent interception); false: none. */
  interception?: InterceptionOptions | false;
  /** Where the built dashboard is (default dist/dashboard/); false: no dashboard is served. */
  dashboardDir?: string | false;
}

export interface ControlPlane {
  url: string;
  port: number;
  view: MeshView;
  push: PushServer;
  /** The CA and workload identity (undefined with `identity: false`). */
  identity: MeshIdentity | undefined;
  /** Service virtual IPs (undefined with `interception: false`). */
  vips: VirtualIps | undefined;
  close(): Promise<void>;
}

export const DEFAULT_PUSH: PushOptions = {
  debounceMs: 50,
  heartbeatMs: 1000,
  helloTimeoutMs: 5000,
  sendConcurrency: 16,
  sendTimeoutMs: 5000,
};
export const DEFAULT_REGISTRY: RegistryOptions = { leaseTtlSeconds: 15, staleMs: 5000 };

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  // Auth first: nothing else is started yet if it fails.
  const auth = opts.auth === false ? undefined : await ApiAuth.open(opts.store, opts.auth);
  const view = await MeshView.open(opts.store);
  const registry = new WorkloadRegistry(opts.store, view, { ...DEFAULT_REGISTRY, ...opts.registry });
  await registry.start();
  const joinTokens = new JoinTokens(opts.store);
  const security =
    opts.identity === false
      ? undefined
      : await openStreamSecurity(opts.store, joinTokens, {
          ...DEFAULT_IDENTITY,
          ...opts.identity,
          requireToken: opts.streamAuth ?? auth !== undefined,
        });
  const icpt = opts.interception === false ? undefined : (opts.interception ?? {});
  const vips =
    icpt === undefined
      ? undefined
      : await VirtualIps.open(opts.store, meshVipSource(view), { ...icpt, range: icpt.vipRange });
  const pushOpts = {
    ...DEFAULT_PUSH,
    ...opts.push,
    telemetry: opts.telemetry ?? opts.push?.telemetry,
    ...(vips === undefined
      ? {}
      : { interception: { vips, outboundTrafficPolicy: icpt?.outboundTrafficPolicy } }),
  };
  const push = new PushServer(view, registry, pushOpts, security);
  // A new virtual IP changes snapshots without a change of resources.
  vips?.onChange(() => push.schedule());
  const shutdown = new AbortController();
  const ctx = {
    store: opts.store,
    view,
    push,
    auth,
    joinTokens,
    identity: security,
    vips,
    shutdown: shutdown.signal,
  };
  const dashboard = opts.dashboardDir === false ? undefined : new DashboardFiles(opts.dashboardDir);
  const server = http.createServer((req, res) => {
    void handleApi(ctx, req, res)
      .then(async (handled) => handled || ((await dashboard?.handle(req, res)) ?? false))
      .then((handled) => {
        if (!handled)
          sendJson(res, 404, { error: { code: 'TRELLIS_NOT_FOUND', message: `no page ${req.url}` } });
      })
      .catch((err: unknown) => {
        if (!res.headersSent)
          sendJson(res, 500, { error: { code: 'TRELLIS_INTERNAL', message: String(err) } });
        else res.destroy();
      });
  });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://control').pathname === STREAM_PATH)
      push.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    view,
    push,
    identity: security,
    vips,
    async close() {
      shutdown.abort(); // streamed answers end before their connections are cut
      security?.close();
      vips?.close();
      registry.close();
      await push.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      view.close();
    },
  };
}
