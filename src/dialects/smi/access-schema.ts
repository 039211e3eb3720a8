// SMI TrafficTarget (access.smi-spec.io v1alpha1..v1alpha3). v1alpha1 puts `destination`, `specs`
// and `sources` at the top level (as its spec document writes it; `spec:` is read too), and its
// destination may name a port; v1alpha2 moves them under `spec` and calls `specs` `rules`;
// v1alpha3 drops the destination port (a TCPRoute rule says which ports). Unknown fields inside
// are errors, as for Istio's security kinds (see common/closed.ts).
import { z } from 'zod';
import { closedObject } from '../common/closed.ts';
import { DialectMetadata } from '../common/metadata.ts';

const Port = z.number().int().min(1).max(65535);
const Name = z.string().min(1);

const Subject = closedObject({
  kind: z.enum(['ServiceAccount', 'Group']),
  name: Name,
  namespace: Name.optional(),
});
const DestinationWithPort = closedObject({
  kind: z.literal('ServiceAccount'),
  name: Name,
  namespace: Name.optional(),
  port: Port.optional(),
});
const Destination = closedObject({
  kind: z.literal('ServiceAccount'),
  name: Name,
  namespace: Name.optional(),
});
const RuleRef = closedObject({
  kind: z.enum(['HTTPRouteGroup', 'TCPRoute']),
  name: Name,
  matches: z.array(Name).optional(),
});
// v1alpha1 specs may name the namespace of the route group.
const SpecRef = closedObject({
  kind: z.enum(['HTTPRouteGroup', 'TCPRoute']),
  name: Name,
  namespace: Name.optional(),
  matches: z.array(Name).optional(),
});

const V1alpha1Body = {
  destination: DestinationWithPort,
  specs: z.array(SpecRef).optional(),
  sources: z.array(Subject).optional(),
};

export const TrafficTargetV1alpha1 = z
  .strictObject({
    apiVersion: z.literal('access.smi-spec.io/v1alpha1'),
    kind: z.literal('TrafficTarget'),
    metadata: DialectMetadata,
    spec: closedObject(V1alpha1Body).optional(),
    destination: V1alpha1Body.destination.optional(),
    specs: V1alpha1Body.specs,
    sources: V1alpha1Body.sources,
    status: z.unknown().optional(),
  })
  .superRefine((r, ctx) => {
    const top = r.destination !== undefined || r.specs !== undefined || r.sources !== undefined;
    if (r.spec !== undefined && top)
      ctx.addIssue({ code: 'custom', path: ['spec'], message: 'give destination, specs and sources once' });
    if (r.spec === undefined && r.destination === undefined)
      ctx.addIssue({ code: 'custom', path: ['destination'], message: 'a TrafficTarget needs a destination' });
  })
  .transform((r) => ({
    apiVersion: r.apiVersion,
    kind: r.kind,
    metadata: r.metadata,
    spec: r.spec ?? {
      destination: r.destination!,
      ...(r.specs === undefined ? {} : { specs: r.specs }),
      ...(r.sources === undefined ? {} : { sources: r.sources }),
    },
  }));

function laterVersion<D extends typeof Destination | typeof DestinationWithPort>(
  apiVersion: 'access.smi-spec.io/v1alpha2' | 'access.smi-spec.io/v1alpha3',
  destination: D,
) {
  return z
    .strictObject({
      apiVersion: z.literal(apiVersion),
      kind: z.literal('TrafficTarget'),
      metadata: DialectMetadata,
      spec: closedObject({
        destination,
        rules: z.array(RuleRef).optional(),
        sources: z.array(Subject).optional(),
      }),
      status: z.unknown().optional(),
    })
    .transform(({ status: _status, ...r }) => r);
}

export const TrafficTargetV1alpha2 = laterVersion('access.smi-spec.io/v1alpha2', DestinationWithPort);
export const TrafficTargetV1alpha3 = laterVersion('access.smi-spec.io/v1alpha3', Destination);

export type TrafficSubject = z.infer<typeof Subject>;
export type TrafficRuleRef = z.infer<typeof SpecRef>;

/** Every version's shape, once parsed. */
export interface TrafficTargetResource {
  apiVersion: string;
  kind: 'TrafficTarget';
  metadata: DialectMetadata;
  spec: {
    destination: {
      kind: 'ServiceAccount';
      name: string;
      namespace?: string | undefined;
      port?: number | undefined;
    };
    /** v1alpha1 */
    specs?: TrafficRuleRef[] | undefined;
    /** v1alpha2 and later */
    rules?: Omit<TrafficRuleRef, 'namespace'>[] | undefined;
    sources?: TrafficSubject[] | undefined;
  };
}
