// SMI: TrafficSplit (split.smi-spec.io v1alpha1..v1alpha4), HTTPRouteGroup and TCPRoute
// (specs.smi-spec.io v1alpha1..v1alpha4), one schema per version where the versions differ.
import { z } from 'zod';
import { dialectResource, DialectMetadata } from '../common/metadata.ts';
import { Weight } from '../common/quantity.ts';
import { Re2Pattern } from '../common/regex.ts';

const Backend = <W extends z.ZodType>(weight: W) => z.strictObject({ service: z.string().min(1), weight });
const MatchRef = <K extends readonly [string, ...string[]]>(kinds: K) =>
  z.strictObject({ kind: z.enum(kinds), name: z.string().min(1), apiGroup: z.string().optional() });
const Int = z.number().int().min(0);

// v1alpha1 weighs in quantities ("500m"), later versions in whole numbers; matches came in v1alpha3.
export const TrafficSplitV1alpha1 = dialectResource(
  ['split.smi-spec.io/v1alpha1'],
  'TrafficSplit',
  z.strictObject({ service: z.string().min(1), backends: z.array(Backend(Weight)).min(1) }),
);
export const TrafficSplitV1alpha2 = dialectResource(
  ['split.smi-spec.io/v1alpha2'],
  'TrafficSplit',
  z.strictObject({ service: z.string().min(1), backends: z.array(Backend(Int)).min(1) }),
);
export const TrafficSplitV1alpha3 = dialectResource(
  ['split.smi-spec.io/v1alpha3'],
  'TrafficSplit',
  z.strictObject({
    service: z.string().min(1),
    backends: z.array(Backend(Int)).min(1),
    matches: z.array(MatchRef(['HTTPRouteGroup'])).optional(),
  }),
);
export const TrafficSplitV1alpha4 = dialectResource(
  ['split.smi-spec.io/v1alpha4'],
  'TrafficSplit',
  z.strictObject({
    service: z.string().min(1),
    backends: z.array(Backend(Int)).min(1),
    matches: z.array(MatchRef(['HTTPRouteGroup', 'TCPRoute'])).optional(),
  }),
);
/** Every version's shape, once parsed. */
export interface TrafficSplitResource {
  apiVersion: string;
  kind: 'TrafficSplit';
  metadata: DialectMetadata;
  spec: {
    service: string;
    backends: { service: string; weight: number }[];
    matches?: { kind: string; name: string; apiGroup?: string | undefined }[] | undefined;
  };
}

export const SPECS_VERSIONS = [
  'specs.smi-spec.io/v1alpha1',
  'specs.smi-spec.io/v1alpha2',
  'specs.smi-spec.io/v1alpha3',
  'specs.smi-spec.io/v1alpha4',
] as const;

// Header filters: a map (v1alpha4) or a list of one-entry maps (v1alpha2, v1alpha3).
const HeaderFilters = z.union([z.record(z.string(), Re2Pattern), z.array(z.record(z.string(), Re2Pattern))]);

const HTTPMatch = z.strictObject({
  name: z.string().min(1),
  methods: z.array(z.string().min(1)).optional(),
  pathRegex: Re2Pattern.optional(),
  headers: HeaderFilters.optional(),
});
export type SmiHTTPMatch = z.infer<typeof HTTPMatch>;

// Early versions put `matches` at the top level, later ones under `spec`: both are read.
export const HTTPRouteGroupResource = z
  .strictObject({
    apiVersion: z.enum(SPECS_VERSIONS),
    kind: z.literal('HTTPRouteGroup'),
    metadata: DialectMetadata,
    spec: z.strictObject({ matches: z.array(HTTPMatch).default([]) }).optional(),
    matches: z.array(HTTPMatch).optional(),
    status: z.unknown().optional(),
  })
  .transform((r) => ({
    apiVersion: r.apiVersion,
    kind: r.kind,
    metadata: r.metadata,
    spec: { matches: [...(r.matches ?? []), ...(r.spec?.matches ?? [])] },
  }));
export type HTTPRouteGroupResource = z.infer<typeof HTTPRouteGroupResource>;

export const SmiTCPRouteResource = z
  .strictObject({
    apiVersion: z.enum(SPECS_VERSIONS),
    kind: z.literal('TCPRoute'),
    metadata: DialectMetadata,
    spec: z
      .strictObject({
        matches: z
          .strictObject({ ports: z.array(z.number().int().min(1).max(65535)).default([]) })
          .optional(),
      })
      .default({}),
    status: z.unknown().optional(),
  })
  .transform(({ status: _status, ...r }) => r);
export type SmiTCPRouteResource = z.infer<typeof SmiTCPRouteResource>;
