// ServiceEntry → for each host, a native Service (named after the host when it is a cluster name,
// else a synthetic label) and an ExternalService with the host as an extra name and the entry's
// endpoints: IP addresses (resolution STATIC) or DNS names (DNS: the endpoints' addresses, or the
// host itself), or the workloads its workloadSelector selects. The entry's one address, if it
// gives one, becomes the Service's clusterIP (its virtual IP; others are allocated, src/control/vip).
import net from 'node:net';
import type { Endpoint } from '../../model/schema.ts';
import { serviceKey, type ServiceId } from '../../resources/catalog.ts';
import type { AppProtocol } from '../../resources/kinds.ts';
import type { ExternalService } from '../external.ts';
import { kubeServiceOfHost } from '../common/hosts.ts';
import { buildService, type ServiceCandidate, type Warn } from '../common/lowering.ts';
import { syntheticLabel } from '../common/names.ts';
import type { IstioContext } from './context.ts';
import type { ServiceEntryResource } from './destination-rule-schema.ts';

const PROTOCOLS: Readonly<Record<string, AppProtocol>> = {
  HTTP: 'http',
  HTTP2: 'http2',
  GRPC: 'grpc',
  'GRPC-WEB': 'http',
  HTTPS: 'tcp',
  TLS: 'tcp',
  TCP: 'tcp',
  MONGO: 'tcp',
  MYSQL: 'tcp',
  REDIS: 'tcp',
};

export interface ServiceEntryOutput {
  services: ServiceCandidate[];
  externals: ExternalService[];
}

function sortedLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels ?? {}).sort()) out[k] = labels![k]!;
  return out;
}

/** The entry's virtual IP (Istio's `addresses`): one address, or a /32 (/128), for one host. */
function entryAddress(addresses: readonly string[] | undefined, hosts: number): string | undefined {
  if (addresses?.length !== 1 || hosts !== 1) return undefined;
  const [address = '', len] = addresses[0]!.split('/');
  const whole = len === undefined || (net.isIPv4(address) ? len === '32' : len === '128');
  return net.isIP(address) !== 0 && whole ? address : undefined;
}

export function lowerServiceEntries(entries: ServiceEntryResource[], ctx: IstioContext): ServiceEntryOutput {
  const out: ServiceEntryOutput = { services: [], externals: [] };
  for (const se of entries) {
    const warn: Warn = (path, message, code) => ctx.base.warnings.warn(se, path, message, code);
    const { spec } = se;
    const clusterIP = entryAddress(spec.addresses, spec.hosts.length);
    if (spec.addresses !== undefined && clusterIP === undefined)
      warn(
        'spec.addresses',
        'only one IP address for an entry with one host is used as its virtual IP; ignored (allocated instead)',
      );
    if (spec.exportTo !== undefined) warn('spec.exportTo', 'not supported: visible to every namespace');
    if (spec.subjectAltNames !== undefined) warn('spec.subjectAltNames', 'not supported; ignored');
    const dynamic = spec.resolution === 'NONE' || spec.resolution === 'DYNAMIC_DNS';
    if (dynamic && spec.workloadSelector === undefined)
      warn(
        'spec.resolution',
        `resolution ${spec.resolution} (to the address the caller dialled) is not supported: use STATIC or DNS; no endpoints`,
      );
    const first = spec.ports[0];
    if (spec.ports.length > 1)
      warn('spec.ports', `one cluster per host: endpoints use port ${first?.number}`);
    const appProtocol = first?.protocol === undefined ? undefined : PROTOCOLS[first.protocol.toUpperCase()];
    if (first?.protocol !== undefined && appProtocol === undefined)
      warn('spec.ports[0].protocol', `protocol ${first.protocol} not supported; treated as TCP`);
    const ports = spec.ports.map((p) => ({
      ...(p.name === undefined ? {} : { name: p.name }),
      port: p.number,
      ...(appProtocol === undefined && p.protocol === undefined ? {} : { appProtocol: appProtocol ?? 'tcp' }),
    }));
    spec.hosts.forEach((host, hi) => {
      if (host.includes('*')) {
        warn(`spec.hosts[${hi}]`, `wildcard host "${host}" is not supported; ignored`);
        return;
      }
      const kube = kubeServiceOfHost(host, se.metadata.namespace, true);
      const id: ServiceId =
        kube !== undefined && kube.namespace === se.metadata.namespace
          ? kube
          : { name: syntheticLabel(host), namespace: se.metadata.namespace };
      if (ctx.base.catalog.has(serviceKey(id))) {
        warn(
          `spec.hosts[${hi}]`,
          `service ${serviceKey(id)} already exists; the ServiceEntry host is ignored`,
        );
        return;
      }
      if (!ctx.addEntryHost(host, id)) {
        warn(`spec.hosts[${hi}]`, `host "${host}" is declared by an earlier ServiceEntry; ignored`);
        return;
      }
      const selector = spec.workloadSelector?.labels;
      const svc = buildService(
        se,
        id,
        {
          ...(selector === undefined ? {} : { selector }),
          ports,
          ...(clusterIP === undefined ? {} : { clusterIP }),
        },
        ctx.base.warnings,
      );
      if (svc === undefined) return;
      out.services.push(svc);
      let endpoints: Endpoint[] | undefined;
      if (selector === undefined && !dynamic && first !== undefined) {
        const port = first.targetPort ?? first.number;
        const given = spec.endpoints.flatMap((ep, ei): Endpoint[] => {
          const address = ep.address;
          if (address === undefined || address.startsWith('unix://')) {
            warn(`spec.endpoints[${ei}].address`, 'an endpoint needs an IP address or a DNS name; ignored');
            return [];
          }
          if (spec.resolution === 'STATIC' && net.isIP(address) === 0) {
            warn(`spec.endpoints[${ei}].address`, 'resolution STATIC needs IP addresses; ignored');
            return [];
          }
          for (const k of ['network', 'serviceAccount'] as const)
            if (ep[k] !== undefined) warn(`spec.endpoints[${ei}].${k}`, 'not supported; ignored');
          return [
            {
              address,
              port: (first.name === undefined ? undefined : ep.ports?.[first.name]) ?? port,
              weight: Math.min(128, Math.max(1, ep.weight ?? 1)),
              healthy: true,
              labels: sortedLabels(ep.labels),
              ...(ep.locality === undefined ? {} : { locality: ep.locality }),
            },
          ];
        });
        // resolution DNS without endpoints: the host itself, resolved when the proxy connects.
        endpoints =
          given.length === 0 && spec.endpoints.length === 0 && spec.resolution !== 'STATIC'
            ? [{ address: host, port, weight: 1, healthy: true, labels: {} }]
            : given;
      }
      const domains = kube === undefined ? [host.toLowerCase()] : [];
      if (domains.length > 0 || endpoints !== undefined)
        out.externals.push({ service: id, domains, endpoints });
    });
  }
  return out;
}
