// The control plane in one process: store → view → (API, registry, push stream). Several replicas
// can share one etcd; each keeps its own view by watching it and pushes to its own proxies.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from '../store/types.ts';
import { handleApi, sendJson } from './api.ts';
import { MeshView } from './mesh-view.ts';
import { STREAM_PATH } from './protocol.ts';
import { PushServer, type PushOptions } from './push-server.ts';
import { WorkloadRegistry, type RegistryOptions } from './registry.ts';

export interface ControlPlaneOptions {
  store: Store;
  host: string;
  port: number;
  push?: Partial<PushOptions>;
  registry?: Partial<RegistryOptions>;
}

export interface ControlPlane {
  url: string;
  port: number;
  view: MeshView;
  push: PushServer;
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
  const view = await MeshView.open(opts.store);
  const registry = new WorkloadRegistry(opts.store, view, { ...DEFAULT_REGISTRY, ...opts.registry });
  await registry.start();
  const push = new PushServer(view, registry, { ...DEFAULT_PUSH, ...opts.push });
  const ctx = { store: opts.store, view, push };
  const server = http.createServer((req, res) => {
    void handleApi(ctx, req, res).then((handled) => {
      if (!handled)
        sendJson(res, 404, { error: { code: 'TRELLIS_NOT_FOUND', message: `no page ${req.url}` } });
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
    async close() {
      registry.close();
      await push.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      view.close();
    },
  };
}
