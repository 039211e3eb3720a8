// How each target of the proxy scenario starts: generated configs in a temp dir, every process
// a child of the bench pinned with taskset, on 127.0.0.1 ports picked free. The Trellis targets
// are in targets-trellis.ts, what they all share in target-procs.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issuePairCerts, type MeshCertFiles, type PairCerts } from './mesh-certs.ts';
import { spawnPinned } from './proc.ts';
import {
  freePort,
  NGINX_HTTP,
  NGINX_MAIN,
  nginx,
  startAll,
  type RunningTarget,
  type Target,
  type TargetContext,
} from './target-procs.ts';
import { TRELLIS_TARGETS } from './targets-trellis.ts';

export { freePort, type RunningTarget, type Target, type TargetContext } from './target-procs.ts';
export { trellisConfig } from './targets-trellis.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const peer = (file: string): string => join(ROOT, 'bench', 'peers', file);

/** The upstream's answer: exactly 1024 bytes, no characters nginx would interpret. */
export const BODY = 'x'.repeat(1023) + '\n';

/** The upstream: nginx, 1 worker, a fixed 1 KB body. */
export async function startUpstream(tmp: string, core: number): Promise<RunningTarget & { port: number }> {
  const port = await freePort();
  const conf = `${NGINX_MAIN(tmp, 'upstream')}
http {${NGINX_HTTP(tmp)}
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    default_type text/plain;
    location / { return 200 "${BODY.replace('\n', '\\n')}"; }
  }
}
`;
  const t = await startAll(`http://127.0.0.1:${port}/`, [nginx(tmp, 'upstream', core, conf)]);
  return { ...t, port };
}

/** TLS on an nginx proxy: terminate mTLS (`listen`), or originate it to the upstream (`origin`). */
interface NginxTls {
  side: 'listen' | 'origin';
  certs: MeshCertFiles;
}

/** nginx, 1 worker, `proxy_pass` to `upstreamPort` over keep-alive connections. */
function nginxProxyConf(
  tmp: string,
  name: string,
  port: number,
  upstreamPort: number,
  tls?: NginxTls,
): string {
  const c = tls?.certs;
  // Server side: a client certificate chaining to the bundle is required, as in STRICT mTLS.
  const listenTls =
    tls?.side === 'listen' && c
      ? `ssl_certificate ${c.certChainFile}; ssl_certificate_key ${c.privateKeyFile};
    ssl_client_certificate ${c.trustBundleFile}; ssl_verify_client on; ssl_protocols TLSv1.3;`
      : '';
  // Client side: nginx can check a server's DNS name, not a SPIFFE URI SAN, so it does not
  // verify the server (a handshake-time cost only, which keep-alive amortises).
  const originTls =
    tls?.side === 'origin' && c
      ? `proxy_ssl_certificate ${c.certChainFile}; proxy_ssl_certificate_key ${c.privateKeyFile};
      proxy_ssl_protocols TLSv1.3; proxy_ssl_session_reuse on; proxy_ssl_verify off;`
      : '';
  return `${NGINX_MAIN(tmp, name)}
http {${NGINX_HTTP(tmp)}
  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port}${tls?.side === 'listen' ? ' ssl' : ''} backlog=4096;
    ${listenTls}
    location / {
      proxy_pass ${tls?.side === 'origin' ? 'https' : 'http'}://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${originTls}
    }
  }
}
`;
}

const nginxProxy: Target = {
  name: 'nginx',
  async start({ tmp, upstreamPort, proxyCore }) {
    const port = await freePort();
    const conf = nginxProxyConf(tmp, 'nginx-proxy', port, upstreamPort);
    return startAll(`http://127.0.0.1:${port}/`, [nginx(tmp, 'nginx-proxy', proxyCore, conf)]);
  },
};

/**
 * nginx → nginx → upstream, both on the proxy core: the native reference for trellis-pair; with
 * `mtls`, TLS 1.3 with client certificates (the same CA and key type as trellis-pair-mtls).
 */
export async function startNginxPair(
  { tmp, upstreamPort, proxyCore }: TargetContext,
  o: { mtls: boolean },
): Promise<RunningTarget & { serverPort: number; certs?: PairCerts }> {
  const name = o.mtls ? 'nginx-pair-mtls' : 'nginx-pair';
  const [serverPort, clientPort] = [await freePort(), await freePort()];
  const certs = o.mtls ? await issuePairCerts(join(tmp, `${name}-certs`)) : undefined;
  const serverConf = nginxProxyConf(
    tmp,
    `${name}-server`,
    serverPort,
    upstreamPort,
    certs && { side: 'listen', certs: certs.server },
  );
  const clientConf = nginxProxyConf(
    tmp,
    `${name}-client`,
    clientPort,
    serverPort,
    certs && { side: 'origin', certs: certs.client },
  );
  const running = await startAll(`http://127.0.0.1:${clientPort}/`, [
    nginx(tmp, `${name}-server`, proxyCore, serverConf),
    nginx(tmp, `${name}-client`, proxyCore, clientConf),
  ]);
  return { ...running, serverPort, ...(certs !== undefined ? { certs } : {}) };
}

const haproxy: Target = {
  name: 'haproxy',
  async start({ tmp, upstreamPort, proxyCore }) {
    const port = await freePort();
    const file = join(tmp, 'haproxy.cfg');
    writeFileSync(
      file,
      `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server up 127.0.0.1:${upstreamPort} pool-max-conn 256
`,
    );
    // -db: foreground, no daemon, no master process.
    return startAll(`http://127.0.0.1:${port}/`, [
      () => spawnPinned(proxyCore, 'haproxy', ['-db', '-f', file]),
    ]);
  },
};

function nodePeer(name: string, file: string): Target {
  return {
    name,
    async start({ upstreamPort, proxyCore }) {
      const port = await freePort();
      const args = [peer(file), '--port', String(port), '--upstream', `http://127.0.0.1:${upstreamPort}`];
      return startAll(`http://127.0.0.1:${port}/`, [() => spawnPinned(proxyCore, process.execPath, args)]);
    },
  };
}

const direct: Target = {
  name: 'direct',
  start: ({ upstreamPort }) =>
    Promise.resolve({ url: `http://127.0.0.1:${upstreamPort}/`, pids: [], stop: () => Promise.resolve() }),
};

/** In table order. `direct` first: the others' added latency is computed against it. */
export const TARGETS: readonly Target[] = [
  direct,
  ...TRELLIS_TARGETS,
  nginxProxy,
  { name: 'nginx-pair', start: (ctx) => startNginxPair(ctx, { mtls: false }) },
  { name: 'nginx-pair-mtls', start: (ctx) => startNginxPair(ctx, { mtls: true }) },
  haproxy,
  nodePeer('undici-proxy', 'undici-proxy.ts'),
  nodePeer('http-proxy', 'http-proxy.ts'),
  nodePeer('node-tcp-pipe', 'tcp-pipe.ts'),
];
