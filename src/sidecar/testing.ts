// Helpers for the sidecar tests: real apps on loopback, real sidecars under a real control plane,
// and relays that sit on the push stream to tamper with snapshots or black-hole the connection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { STREAM_PATH } from '../control/protocol.ts';
import type { ProxyStatus } from '../control/push-server.ts';
import {
  api,
  defer,
  httpRequest,
  proxyStatus,
  waitFor,
  type HttpResult,
  type TestControlPlane,
} from '../control/testing.ts';
import type { ProxyConfig } from '../model/schema.ts';
import type { Resource } from '../resources/kinds.ts';
import { startSidecar, type Sidecar, type SidecarOptions } from './sidecar.ts';

const silent = pino({ level: 'silent' });

export interface App {
  port: number;
  close(): Promise<void>;
}

/** A real HTTP app on loopback that says who it is and what it was asked. */
export async function startApp(t: TestContext, name: string, port = 0): Promise<App> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ app: name, url: req.url, host: req.headers.host });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
  defer(t, close);
  return { port: (server.address() as net.AddressInfo).port, close };
}

/** A port nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * A real sidecar for `service` (version v1 unless `extra` says otherwise) on free ports, probing
 * its app every 100 ms and reconnecting quickly; stopped after the test (stop() is idempotent).
 */
export async function launch(
  t: TestContext,
  controlUrls: string[],
  service: string,
  appPort: number,
  extra: Partial<SidecarOptions> = {},
): Promise<Sidecar> {
  const sidecar = await startSidecar(
    {
      controlUrls,
      service,
      namespace: 'default',
      version: 'v1',
      labels: {},
      serviceAccount: service,
      address: '127.0.0.1',
      appPort,
      protocol: 'http',
      ports: { inbound: 0, outbound: 0, admin: 0 },
      probe: { kind: 'tcp' },
      probeIntervalMs: 100,
      backoff: { initialMs: 50, maxMs: 250 },
      ...extra,
    },
    silent,
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= sidecar.stop(0, 0));
  defer(t, stop);
  return { ...sidecar, stop };
}

/** What an HTTP_PROXY client sends: the absolute URL, to the sidecar's outbound port. */
export function viaSidecar(sidecar: Sidecar, url: string, o: { method?: string } = {}): Promise<HttpResult> {
  return httpRequest(`http://127.0.0.1:${sidecar.ports.outbound}`, {
    path: url,
    headers: { host: new URL(url).host },
    ...(o.method !== undefined ? { method: o.method } : {}),
  });
}

export async function appBehind(sidecar: Sidecar, url: string): Promise<{ app: string; url: string }> {
  const res = await viaSidecar(sidecar, url);
  assert.equal(res.status, 200, `${url}: ${res.status} ${res.text}`);
  return JSON.parse(res.text) as { app: string; url: string };
}

/** Waits until the proxy is connected and has ACKed what it was last sent. */
export function synced(cp: TestControlPlane, sidecar: Sidecar): Promise<ProxyStatus> {
  return waitFor(`${sidecar.registration.name} to be in sync`, async () => {
    const s = await proxyStatus(cp.url, sidecar.registration.name);
    return s !== undefined && s.sent !== undefined && s.acked === s.sent && s;
  });
}

export async function configDump(sidecar: Sidecar): Promise<{ version: string; config: ProxyConfig }> {
  const res = await httpRequest(`http://127.0.0.1:${sidecar.ports.admin}/config_dump`);
  return JSON.parse(res.text) as { version: string; config: ProxyConfig };
}

export async function storedReady(cp: TestControlPlane, sidecar: Sidecar): Promise<boolean | undefined> {
  const res = await api<Resource>(
    cp.url,
    'GET',
    `/api/v1/resources/Workload/default/${sidecar.registration.name}`,
  );
  return res.status === 200 && res.body.kind === 'Workload' ? res.body.spec.ready : undefined;
}

export interface Relay {
  url: string;
  /** When set, changes each snapshot's config on its way to the proxy. */
  tamper: ((config: ProxyConfig) => void) | undefined;
}

/** Sits on the push stream between a proxy and a real control plane, passing messages both ways. */
export async function startRelay(t: TestContext, target: string): Promise<Relay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const relay: Relay = {
    url: `http://127.0.0.1:${(wss.address() as net.AddressInfo).port}`,
    tamper: undefined,
  };
  // Codes a peer may not send (1005, 1006, ...) become "going away".
  const sendable = (code: number): number => (code === 1000 || (code >= 3000 && code <= 4999) ? code : 1001);
  wss.on('connection', (down) => {
    const up = new WebSocket(new URL(STREAM_PATH, target.replace(/^http/, 'ws')).toString());
    const early: string[] = [];
    down.on('message', (data) => {
      if (up.readyState === WebSocket.OPEN) up.send(data.toString());
      else early.push(data.toString());
    });
    up.on('open', () => {
      for (const m of early.splice(0)) up.send(m);
    });
    up.on('message', (data) => {
      let text = data.toString();
      const msg = JSON.parse(text) as { type: string; config?: unknown };
      if (msg.type === 'snapshot' && relay.tamper !== undefined) {
        relay.tamper(msg.config as ProxyConfig);
        text = JSON.stringify(msg);
      }
      down.send(text);
    });
    up.on('close', (code) => down.close(sendable(code)));
    down.on('close', () => up.terminate());
    up.on('error', () => {});
    down.on('error', () => {});
  });
  defer(t, async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
  return relay;
}

export interface TcpRelay {
  url: string;
  /** From now on, connections through the relay carry nothing and never close: a black hole. */
  freeze(): void;
}

/** A TCP relay to the control plane; connections made after freeze() work normally. */
export async function startTcpRelay(t: TestContext, target: string): Promise<TcpRelay> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<{ down: net.Socket; up: net.Socket; frozen: boolean }>();
  const server = net.createServer((down) => {
    const up = net.connect(Number(port), hostname);
    const pair = { down, up, frozen: false };
    pairs.add(pair);
    down.pipe(up);
    up.pipe(down);
    const close = (): void => {
      if (pair.frozen) return;
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      s.on('error', () => {});
      s.on('close', close);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(t, async () => {
    for (const p of pairs) for (const s of [p.down, p.up]) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    freeze() {
      for (const p of pairs) {
        p.frozen = true;
        p.down.unpipe(p.up);
        p.up.unpipe(p.down);
        p.down.pause();
        p.up.pause();
      }
    },
  };
}
