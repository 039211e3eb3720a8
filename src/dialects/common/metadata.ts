// The envelope every dialect kind shares: Kubernetes object metadata. Unlike Trellis's own kinds,
// names here are DNS-1123 subdomains (a Linkerd ServiceProfile is named after its service's FQDN).
import { z } from 'zod';
import { DnsLabel } from '../../resources/kinds.ts';

// Server-populated metadata of a real Kubernetes object: accepted and dropped without a word.
const SERVER_FIELDS = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  'ownerReferences',
  'finalizers',
  'generateName',
] as const;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const DialectMetadata = z
  .strictObject({
    name: z
      .string()
      .max(253)
      .regex(SUBDOMAIN, 'must be a DNS-1123 subdomain (lowercase, digits, "-" and ".")'),
    namespace: DnsLabel.default('default'),
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).optional(),
    ...Object.fromEntries(SERVER_FIELDS.map((k) => [k, z.unknown().optional()])),
  })
  .transform((m) => ({
    name: m.name,
    namespace: m.namespace,
    labels: m.labels,
    ...(m.annotations === undefined ? {} : { annotations: m.annotations }),
  }));
export type DialectMetadata = z.infer<typeof DialectMetadata>;

/**
 * A resource of kind `kind` served as any of `apiVersions`: strict (parse.ts turns unknown fields
 * into warnings and drops them), with `status` accepted and dropped as Kubernetes writes it.
 */
export function dialectResource<K extends string, S extends z.ZodType>(
  apiVersions: readonly [string, ...string[]],
  kind: K,
  spec: S,
) {
  return z
    .strictObject({
      apiVersion: z.enum(apiVersions),
      kind: z.literal(kind),
      metadata: DialectMetadata,
      spec,
      status: z.unknown().optional(),
    })
    .transform(({ status: _status, ...r }) => r);
}
