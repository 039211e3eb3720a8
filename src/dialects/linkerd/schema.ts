// Linkerd's ServiceProfile (linkerd.io v1alpha1, v1alpha2), named after its service's FQDN.
import { z } from 'zod';
import { GoDuration } from '../common/duration.ts';
import { dialectResource } from '../common/metadata.ts';
import { Weight } from '../common/quantity.ts';
import { Re2Pattern } from '../common/regex.ts';

export interface RequestMatch {
  pathRegex?: string | undefined;
  method?: string | undefined;
  all?: RequestMatch[] | undefined;
  any?: RequestMatch[] | undefined;
  not?: RequestMatch | undefined;
}
export const RequestMatch: z.ZodType<RequestMatch> = z.lazy(() =>
  z.strictObject({
    pathRegex: Re2Pattern.optional(),
    method: z.string().min(1).optional(),
    all: z.array(RequestMatch).optional(),
    any: z.array(RequestMatch).optional(),
    not: RequestMatch.optional(),
  }),
);

export interface ResponseMatch {
  status?: { min?: number | undefined; max?: number | undefined } | undefined;
  all?: ResponseMatch[] | undefined;
  any?: ResponseMatch[] | undefined;
  not?: ResponseMatch | undefined;
}
export const ResponseMatch: z.ZodType<ResponseMatch> = z.lazy(() =>
  z.strictObject({
    status: z
      .strictObject({
        min: z.number().int().min(100).max(599).optional(),
        max: z.number().int().min(100).max(599).optional(),
      })
      .optional(),
    all: z.array(ResponseMatch).optional(),
    any: z.array(ResponseMatch).optional(),
    not: ResponseMatch.optional(),
  }),
);

const ProfileRoute = z.strictObject({
  name: z.string().min(1),
  condition: RequestMatch,
  responseClasses: z
    .array(z.strictObject({ condition: ResponseMatch, isFailure: z.boolean().default(false) }))
    .optional(),
  isRetryable: z.boolean().default(false),
  timeout: GoDuration.optional(),
});
export type ProfileRoute = z.infer<typeof ProfileRoute>;

export const ServiceProfileResource = dialectResource(
  ['linkerd.io/v1alpha2', 'linkerd.io/v1alpha1'],
  'ServiceProfile',
  z.strictObject({
    routes: z.array(ProfileRoute).default([]),
    retryBudget: z
      .strictObject({
        retryRatio: z.number().min(0).max(10),
        minRetriesPerSecond: z.number().int().min(0),
        ttl: GoDuration,
      })
      .optional(),
    dstOverrides: z.array(z.strictObject({ authority: z.string().min(1), weight: Weight })).optional(),
    opaquePorts: z.array(z.union([z.string(), z.number()])).optional(),
  }),
);
export type ServiceProfileResource = z.infer<typeof ServiceProfileResource>;
