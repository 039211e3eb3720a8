// The Trellis targets of the proxy scenario: one proxy, and a client-side → server-side pair with
// plaintext or mesh mTLS between them. Configs are generated into the run's temp dir.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ProxyConfigInput } from '../src/model/schema.ts';
import { issuePairCerts, PAIR_IDS, type MeshCertFiles, type PairCerts } from './mesh-certs.ts';
import { spawnPinned, type Spawned } from './proc.ts';
import { freePort, startAll, type RunningTarget, type Target, type TargetContext } from './target-procs.ts';

/** One side of a mesh mTLS hop: this proxy's certificate, and (client side) who the server must be. */
export interface MeshSide {
  certs: MeshCertFiles;
  /** Outbound only: the SPIFFE ID the server-side proxy must present. */
  peer?: string;
}

/**
 * A Trellis config: one listener, one route table matching everything, one cluster. With `mesh`,
 * an inbound listener accepts mesh mTLS only (STRICT) and an outbound cluster originates it.
 */
export function trellisConfig(o: {
  port: number;
  adminPort: number;
  direction: 'outbound' | 'inbound';
  upstreamPort: number;
  mesh?: MeshSide;
}): ProxyConfigInput {
  const mesh = o.mesh;
  const inboundMtls = mesh !== undefined && o.direction === 'inbound';
  const outboundMtls = mesh !== undefined && o.direction === 'outbound';
  return {
    version: 'bench',
    node: { id: `bench-${o.direction}` },
    admin: { address: '127.0.0.1', port: o.adminPort },
    listeners: [
      {
        name: `bench-${o.direction}`,
        direction: o.direction,
        address: '127.0.0.1',
        port: o.port,
        protocol: 'http1',
        routeTable: 'bench',
        ...(inboundMtls ? { mtls: { mode: 'STRICT' as const } } : {}),
      },
    ],
    routeTables: [
      {
        name: 'bench',
        virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ backends: [{ cluster: 'upstream' }] }] }],
      },
    ],
    clusters: [
      {
        name: 'upstream',
        protocol: 'http1',
        endpoints: [{ address: '127.0.0.1', port: o.upstreamPort }],
        ...(outboundMtls ? { mtls: { identities: mesh.peer === undefined ? [] : [mesh.peer] } } : {}),
      },
    ],
    ...(mesh !== undefined
      ? {
          secrets: {
            certChainFile: mesh.certs.certChainFile,
            privateKeyFile: mesh.certs.privateKeyFile,
            trustBundleFile: mesh.certs.trustBundleFile,
          },
        }
      : {}),
  };
}

/** The `trellis` command as users run it, with its default flags. */
const TRELLIS_BIN = fileURLToPath(new URL('../bin/trellis.js', import.meta.url));

/**
 * `dist`: the build bench/run.ts has just made, even if a source file changed since (a shared
 * checkout); `src`: the sources (tests, which do not build).
 */
export type TrellisEntry = 'dist' | 'src';

async function trellisProxy(
  tmp: string,
  core: number,
  name: string,
  config: Omit<Parameters<typeof trellisConfig>[0], 'port' | 'adminPort'>,
  entry: TrellisEntry,
): Promise<{ port: number; spawn: () => Spawned }> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(trellisConfig({ ...config, port, adminPort })));
  const args = [TRELLIS_BIN, 'proxy', '--config', file];
  const env = { ...process.env, TRELLIS_ENTRY: entry };
  return { port, spawn: () => spawnPinned(core, process.execPath, args, env) };
}

const trellis: Target = {
  name: 'trellis',
  async start({ tmp, upstreamPort, proxyCore }) {
    const p = await trellisProxy(tmp, proxyCore, 'trellis', { direction: 'outbound', upstreamPort }, 'dist');
    return startAll(`http://127.0.0.1:${p.port}/`, [p.spawn]);
  },
};

/**
 * Client-side proxy (outbound) → server-side proxy (inbound) → upstream; both on the proxy core.
 * With `mtls`, certificates for two service accounts are issued now by a real CA; the server
 * side takes mesh mTLS only, the client side accepts only the server's SPIFFE ID.
 */
export async function startTrellisPair(
  { tmp, upstreamPort, proxyCore }: TargetContext,
  o: { mtls: boolean; entry?: TrellisEntry },
): Promise<RunningTarget & { serverPort: number; certs?: PairCerts }> {
  const entry = o.entry ?? 'dist';
  const name = o.mtls ? 'trellis-pair-mtls' : 'trellis-pair';
  const certs = o.mtls ? await issuePairCerts(join(tmp, `${name}-certs`)) : undefined;
  const clientMesh: MeshSide | undefined = certs && { certs: certs.client, peer: PAIR_IDS.server };
  const serverMesh: MeshSide | undefined = certs && { certs: certs.server };
  const server = await trellisProxy(
    tmp,
    proxyCore,
    `${name}-server`,
    { direction: 'inbound', upstreamPort, ...(serverMesh !== undefined ? { mesh: serverMesh } : {}) },
    entry,
  );
  const client = await trellisProxy(
    tmp,
    proxyCore,
    `${name}-client`,
    {
      direction: 'outbound',
      upstreamPort: server.port,
      ...(clientMesh !== undefined ? { mesh: clientMesh } : {}),
    },
    entry,
  );
  const running = await startAll(`http://127.0.0.1:${client.port}/`, [server.spawn, client.spawn]);
  return { ...running, serverPort: server.port, ...(certs !== undefined ? { certs } : {}) };
}

const trellisPair: Target = {
  name: 'trellis-pair',
  start: (ctx) => startTrellisPair(ctx, { mtls: false }),
};

/** The same pair with mesh mTLS (TLS 1.3, P-256 certificates from the bench's CA) on the hop. */
const trellisPairMtls: Target = {
  name: 'trellis-pair-mtls',
  start: (ctx) => startTrellisPair(ctx, { mtls: true }),
};

export const TRELLIS_TARGETS: readonly Target[] = [trellis, trellisPair, trellisPairMtls];
