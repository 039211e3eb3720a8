// Transparent interception (`trellis run --transparent`): the app dials `reviews:9080` by name,
// its netns's iptables rules send the connection to the sidecar's outbound listener, and the
// sidecar learns where it was going from the socket (SO_ORIGINAL_DST). These parts of the model
// say what the sidecar does with that original destination, and which names the app resolves.
import { z } from 'zod';

const Port = z.number().int().min(1).max(65535);
const Name = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'names use letters, digits and . _ : / -');

/** One address:port the app may dial (a service's virtual IP and port) and what it means. */
export const InterceptedDestination = z
  .object({
    address: z.string().min(1),
    port: Port,
    /**
     * The authority routed on when an HTTP request carries none usable (no Host, or the Host is an
     * IP address): e.g. `reviews.default.svc.cluster.local:9080`.
     */
    authority: z.string().min(1),
    /** Where opaque TCP (or TLS the proxy does not terminate) to this destination goes. */
    tcpCluster: Name.optional(),
  })
  .strict();
export type InterceptedDestination = z.infer<typeof InterceptedDestination>;

/** On an outbound listener: connections redirected to it keep their original destination. */
export const ListenerInterception = z
  .object({
    destinations: z.array(InterceptedDestination).default([]),
    /**
     * A redirected connection to a destination not listed: `allow` relays it as opaque TCP to where
     * it was going (Istio's PassthroughCluster, outboundTrafficPolicy ALLOW_ANY); `deny` closes it
     * (REGISTRY_ONLY).
     */
    passthrough: z.enum(['allow', 'deny']).default('allow'),
  })
  .strict();
export type ListenerInterception = z.infer<typeof ListenerInterception>;

/** Names the app resolves to mesh addresses (written into its netns's hosts file). */
export const MeshDns = z
  .object({
    hosts: z
      .array(z.object({ address: z.string().min(1), names: z.array(z.string().min(1)).min(1) }).strict())
      .default([]),
  })
  .strict();
export type MeshDns = z.infer<typeof MeshDns>;
