// A sidecar under a control plane. It binds its listeners first (port 0 picks free ports, so many
// workloads can share one host), registers the workload with the ports it got, then serves what
// the control plane pushes. Until the first snapshot it serves a bootstrap config: inbound already
// reaches the app; outbound knows no service yet.
import { redactSecrets } from '../admin/redact.ts';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { startAdminServer, type AdminServer } from '../admin/admin-server.ts';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { validateConfig } from '../model/load.ts';
import { ProxyConfig } from '../model/schema.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import type { WorkloadRegistration } from '../control/protocol.ts';
import { INBOUND_APP_CLUSTER } from '../control/snapshot/names.ts';
import { ControlClient } from './control-client.ts';
import { ReadinessProbe, type ProbeSpec } from './probe.ts';
import { StatsReporter } from './stats-reporter.ts';
import { TapAgent } from './tap-agent.ts';
import { interceptionHooks } from '../intercept/sidecar-hooks.ts';
import { renewalDue, WorkloadIdentity } from './workload-identity.ts';

export interface SidecarOptions {
  controlUrls: string[];
  service: string;
  namespace: string;
  version: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** Address peers dial to reach this workload's inbound listener. */
  address: string;
  appPort: number;
  servicePort?: number | undefined;
  protocol: 'http' | 'http2' | 'grpc' | 'tcp';
  locality?: { region?: string; zone?: string } | undefined;
  ports: { inbound: number; outbound: number; admin: number };
  scope?: string[] | undefined;
  probe: ProbeSpec;
  /** Workload name; default service-version-random. */
  name?: string | undefined;
  /** How often the app's readiness is probed (default 1000 ms). */
  probeIntervalMs?: number | undefined;
  /** Reconnect backoff to the control plane (default 200 ms doubling up to 3 s, jittered). */
  backoff?: { initialMs: number; maxMs: number } | undefined;
  /** Join token bound to this workload's service account (`trellis token create`). */
  joinToken?: string | undefined;
  /** Transparent mode: the app's hosts file, rewritten with the config's mesh names (dns). */
  hostsFile?: string | undefined;
}

export interface Sidecar {
  registration: WorkloadRegistration;
  ports: { inbound: number; outbound: number; admin: number };
  control: ControlClient;
  /**
   * Leaves the mesh but keeps serving: deregisters, then waits while peers catch up (`trellis run`
   * does this before it stops the app, so no request reaches an app that is shutting down).
   */
  deregister(graceMs?: number): Promise<void>;
  /** Deregisters (unless done already), keeps serving while peers catch up, then drains and closes everything. */
  stop(drainMs?: number, deregisterGraceMs?: number): Promise<void>;
}

const APP_CLUSTER = INBOUND_APP_CLUSTER;

export function bootstrapConfig(o: SidecarOptions): ProxyConfig {
  const tcp = o.protocol === 'tcp';
  const appProtocol = { http: 'http1', http2: 'http2', grpc: 'grpc', tcp: 'tcp' } as const;
  return ProxyConfig.parse({
    version: 'bootstrap',
    node: { id: o.name, service: o.service, namespace: o.namespace },
    admin: { address: '127.0.0.1', port: o.ports.admin },
    listeners: [
      {
        name: 'outbound',
        direction: 'outbound',
        address: '127.0.0.1',
        port: o.ports.outbound,
        protocol: 'http',
        routeTable: 'outbound',
      },
      tcp
        ? {
            name: 'inbound',
            direction: 'inbound',
            address: o.address,
            port: o.ports.inbound,
            protocol: 'tcp',
            tcpCluster: APP_CLUSTER,
          }
        : {
            name: 'inbound',
            direction: 'inbound',
            address: o.address,
            port: o.ports.inbound,
            protocol: 'detect',
            routeTable: 'inbound',
          },
    ],
    routeTables: [
      { name: 'outbound', virtualHosts: [] },
      ...(tcp
        ? []
        : [
            {
              name: 'inbound',
              virtualHosts: [
                {
                  name: 'app',
                  domains: ['*'],
                  routes: [{ name: 'inbound', backends: [{ cluster: APP_CLUSTER }] }],
                },
              ],
            },
          ]),
    ],
    clusters: [
      {
        name: APP_CLUSTER,
        protocol: appProtocol[o.protocol],
        endpoints: [{ address: '127.0.0.1', port: o.appPort }],
      },
    ],
  });
}

export async function startSidecar(o: SidecarOptions, log: Logger): Promise<Sidecar> {
  const name = o.name ?? `${o.service}-${o.version}-${randomBytes(3).toString('hex')}`;
  const registry = new Registry();
  const onConfig = interceptionHooks({ hostsFile: o.hostsFile, log });
  const stats = new ProxyStats(registry);
  const proxy = new ProxyServer(bootstrapConfig({ ...o, name }), stats);
  await proxy.start();
  const bound = proxy.ports();
  let applied = false;
  let onReadiness = (): void => {};
  const probe = new ReadinessProbe(o.appPort, o.probe, o.probeIntervalMs ?? 1000, () => onReadiness());
  const admin: AdminServer = await startAdminServer('127.0.0.1', o.ports.admin, {
    ready: () => proxy.ready && applied && probe.ready,
    configDump: () => ({ version: proxy.version, config: redactSecrets(proxy.config) }),
    metrics: () => registry.metrics(),
    metricsContentType: registry.contentType,
  });
  const ports = { inbound: bound.inbound ?? 0, outbound: bound.outbound ?? 0, admin: admin.port };
  const registration: WorkloadRegistration = {
    name,
    namespace: o.namespace,
    labels: { ...o.labels, app: o.service, version: o.version },
    spec: {
      service: o.service,
      serviceAccount: o.serviceAccount,
      address: o.address,
      ports: { ...ports, app: o.appPort, ...(o.servicePort !== undefined ? { service: o.servicePort } : {}) },
      protocol: o.protocol,
      ...(o.locality !== undefined ? { locality: o.locality } : {}),
      ready: false,
    },
  };
  const control = new ControlClient({
    urls: o.controlUrls,
    proxyId: `${name}.${o.namespace}`,
    scope: o.scope,
    // A sidecar given a hosts file to keep is the one of a `trellis run --transparent` workload.
    transparent: o.hostsFile !== undefined,
    ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
    workload: () => ({ ...registration, spec: { ...registration.spec, ready: probe.ready } }),
    ready: () => probe.ready,
    ...(o.joinToken !== undefined ? { joinToken: o.joinToken } : {}),
    stats: new StatsReporter(stats.edge, { ejections: () => proxy.ejectedEndpoints() }),
    tap: new TapAgent(proxy.tap),
    apply: async (raw, version) => {
      // A snapshot with a trust bundle needs this proxy's certificate: the first one is awaited.
      const config = validateConfig(await identity.withSecrets(raw), `snapshot ${version}`);
      // The sidecar owns its admin socket; the snapshot's admin block cannot move it.
      await proxy.reload({ ...config, admin: proxy.config.admin });
      lastRaw = raw;
      onConfig(config);
      applied = true;
    },
    onEvent: (ev) => {
      if (ev.type === 'rejected')
        log.error({ version: ev.version }, `snapshot rejected, keeping the config in force: ${ev.error}`);
      else if (ev.type === 'applied') log.info({ version: ev.version }, 'snapshot applied');
      else if (ev.type === 'disconnected')
        log.warn(
          { url: ev.url, reason: ev.reason, retryInMs: ev.retryInMs },
          'control plane unreachable, serving the last good config',
        );
      else if (ev.type === 'connected') {
        log.info({ url: ev.url, identity: ev.identity }, 'connected to the control plane');
        if (renewalDue(identity.current())) identity.renewNow();
      } else if (ev.type === 'renew') identity.renewNow();
      else log.error({ code: ev.code }, `control plane refused this proxy: ${ev.message}`);
    },
  });
  const identity = new WorkloadIdentity(control, log);
  let lastRaw: unknown;
  // A renewal re-applies the config in force with the new certificate.
  identity.onRenewed(() => {
    if (lastRaw === undefined) return;
    const raw = lastRaw;
    void identity
      .withSecrets(raw)
      .then((withCert) => proxy.reload({ ...validateConfig(withCert, 'renewal'), admin: proxy.config.admin }))
      .then(
        () => log.info({ notAfter: identity.current()?.notAfter }, 'workload certificate renewed'),
        (err: unknown) => log.error({ err }, 'renewed certificate could not be applied'),
      );
  });
  onReadiness = () => control.readinessChanged();
  probe.start();
  control.start();
  let leaving: Promise<void> | undefined;
  const deregister = (graceMs = 1000): Promise<void> =>
    (leaving ??= (async () => {
      probe.stop();
      identity.stop();
      await control.close({ deregister: true });
      // Peers learn that this endpoint is gone one push later; keep serving them until they have.
      await new Promise((resolve) => setTimeout(resolve, graceMs));
    })());
  return {
    registration,
    ports,
    control,
    deregister,
    async stop(drainMs = proxy.config.drainTimeout, deregisterGraceMs = 1000) {
      await deregister(deregisterGraceMs);
      await proxy.drain(drainMs);
      await admin.close();
    },
  };
}
