// Hosts as Istio, SMI and Linkerd name services: a short name ("reviews", relative to the
// resource's namespace, as Istio reads it), "reviews.ns", or the cluster FQDN
// "reviews.ns.svc.cluster.local". Any other DNS name is outside the mesh's service names and can
// only be reached through a ServiceEntry.
import type { ServiceId } from '../../resources/catalog.ts';

const LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const KUBE_HOST = new RegExp(`^(${LABEL})(?:\\.(${LABEL})(\\.svc(?:\\.cluster\\.local)?)?)?\\.?$`);

/**
 * The service a host names, or undefined when it is not a cluster name. "name.ns" is accepted as
 * the Kubernetes search path resolves it; `strict` refuses it (two-label DNS names such as
 * "httpbin.org" are then external), leaving only short names and `*.svc[.cluster.local]`.
 */
export function kubeServiceOfHost(host: string, namespace: string, strict = false): ServiceId | undefined {
  const m = KUBE_HOST.exec(host.toLowerCase());
  if (m === null) return undefined;
  const [, name = '', ns, svc] = m;
  if (ns === undefined) return { name, namespace };
  if (strict && svc === undefined) return undefined;
  return { name, namespace: ns };
}

/** The FQDN of a service, as Istio and Linkerd write it. */
export function serviceFqdn(id: ServiceId): string {
  return `${id.name}.${id.namespace}.svc.cluster.local`;
}

/** `name.ns`, the reference form the lowered native resources use. */
export function serviceRef(id: ServiceId): string {
  return `${id.name}.${id.namespace}`;
}
