// Which workloads a security policy applies to: the workload as policies see it, and Istio's
// scoping (root namespace = mesh-wide, else the policy's own namespace; a selector narrows).
import type { WorkloadResource } from '../../resources/kinds.ts';

/** What a policy can select a workload by. */
export interface WorkloadIdentity {
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** The port the app listens on: what Istio's port-level settings and `destination.port` name. */
  appPort: number;
}

export function workloadIdentity(w: WorkloadResource): WorkloadIdentity {
  return {
    namespace: w.metadata.namespace,
    labels: w.metadata.labels,
    serviceAccount: w.spec.serviceAccount,
    appPort: w.spec.ports.app,
  };
}

/** The labels a selector asks for, or undefined when it asks for none (then it selects like no selector). */
export function selectorLabels(
  selector: { matchLabels?: Record<string, string> | undefined } | undefined,
): Record<string, string> | undefined {
  const labels = selector?.matchLabels ?? {};
  return Object.keys(labels).length === 0 ? undefined : labels;
}

export function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * Istio's scope of an AuthorizationPolicy, RequestAuthentication or workload-level
 * PeerAuthentication: in the root namespace it reaches every namespace, elsewhere its own; a
 * selector then narrows it to the workloads carrying its labels.
 */
export function inScope(
  policy: { namespace: string; selector: Record<string, string> | undefined },
  w: WorkloadIdentity,
  rootNamespace: string,
): boolean {
  if (policy.namespace !== rootNamespace && policy.namespace !== w.namespace) return false;
  return policy.selector === undefined || labelsMatch(policy.selector, w.labels);
}
