// Istio's DestinationRule, ServiceEntry and Sidecar (networking.istio.io v1alpha3, v1beta1, v1).
// As for VirtualService, every API field is accepted; the lowering says which ones it cannot honour.
import { z } from 'zod';
import { GoDuration } from '../common/duration.ts';
import { dialectResource } from '../common/metadata.ts';
import { ISTIO_NETWORKING } from './virtual-service-schema.ts';

const LoadBalancer = z.strictObject({
  simple: z
    .enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'])
    .optional(),
  consistentHash: z
    .strictObject({
      httpHeaderName: z.string().min(1).optional(),
      httpCookie: z
        .strictObject({ name: z.string().min(1), path: z.string().optional(), ttl: GoDuration.optional() })
        .optional(),
      useSourceIp: z.boolean().optional(),
      httpQueryParameterName: z.string().min(1).optional(),
      ringHash: z.strictObject({ minimumRingSize: z.number().int().min(1).optional() }).optional(),
      maglev: z.strictObject({ tableSize: z.number().int().min(1).optional() }).optional(),
      minimumRingSize: z.number().int().min(1).optional(),
    })
    .optional(),
  localityLbSetting: z.unknown().optional(),
  warmupDurationSecs: GoDuration.optional(),
  warmup: z.unknown().optional(),
});
export type IstioLoadBalancer = z.infer<typeof LoadBalancer>;

const ConnectionPool = z.strictObject({
  tcp: z
    .strictObject({
      maxConnections: z.number().int().min(0).optional(),
      connectTimeout: GoDuration.optional(),
      tcpKeepalive: z.unknown().optional(),
      maxConnectionDuration: GoDuration.optional(),
      idleTimeout: GoDuration.optional(),
    })
    .optional(),
  http: z
    .strictObject({
      http1MaxPendingRequests: z.number().int().min(0).optional(),
      http2MaxRequests: z.number().int().min(0).optional(),
      maxRequestsPerConnection: z.number().int().min(0).optional(),
      maxRetries: z.number().int().min(0).optional(),
      idleTimeout: GoDuration.optional(),
      h2UpgradePolicy: z.string().optional(),
      useClientProtocol: z.boolean().optional(),
      maxConcurrentStreams: z.number().int().min(0).optional(),
    })
    .optional(),
});
export type IstioConnectionPool = z.infer<typeof ConnectionPool>;

const OutlierDetection = z.strictObject({
  consecutiveErrors: z.number().int().min(0).optional(),
  consecutiveGatewayErrors: z.number().int().min(0).optional(),
  consecutive5xxErrors: z.number().int().min(0).optional(),
  interval: GoDuration.optional(),
  baseEjectionTime: GoDuration.optional(),
  maxEjectionPercent: z.number().int().min(0).max(100).optional(),
  minHealthPercent: z.number().int().min(0).max(100).optional(),
  splitExternalLocalOriginErrors: z.boolean().optional(),
  consecutiveLocalOriginFailures: z.number().int().min(0).optional(),
});
export type IstioOutlierDetection = z.infer<typeof OutlierDetection>;

const ClientTls = z.strictObject({
  mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).default('DISABLE'),
  clientCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
  credentialName: z.string().optional(),
  subjectAltNames: z.array(z.string()).optional(),
  sni: z.string().optional(),
  insecureSkipVerify: z.boolean().optional(),
  caCrl: z.string().optional(),
});
export type IstioClientTls = z.infer<typeof ClientTls>;

const PolicyParts = {
  loadBalancer: LoadBalancer.optional(),
  connectionPool: ConnectionPool.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTls.optional(),
};

export const IstioTrafficPolicy = z.strictObject({
  ...PolicyParts,
  portLevelSettings: z
    .array(
      z.strictObject({
        port: z.strictObject({ number: z.number().int().min(1).max(65535) }),
        ...PolicyParts,
      }),
    )
    .optional(),
  tunnel: z.unknown().optional(),
  proxyProtocol: z.unknown().optional(),
  retryBudget: z.unknown().optional(),
});
export type IstioTrafficPolicy = z.infer<typeof IstioTrafficPolicy>;
/** The parts one cluster gets: the top level, or one port's settings. */
export type IstioPolicyParts = Pick<IstioTrafficPolicy, keyof typeof PolicyParts>;

const WorkloadSelector = z.strictObject({ labels: z.record(z.string(), z.string()).default({}) });

export const DestinationRuleResource = dialectResource(
  ISTIO_NETWORKING,
  'DestinationRule',
  z.strictObject({
    host: z.string().min(1),
    trafficPolicy: IstioTrafficPolicy.optional(),
    subsets: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          labels: z.record(z.string(), z.string()).default({}),
          trafficPolicy: IstioTrafficPolicy.optional(),
        }),
      )
      .default([]),
    exportTo: z.array(z.string()).optional(),
    workloadSelector: WorkloadSelector.optional(),
  }),
);
export type DestinationRuleResource = z.infer<typeof DestinationRuleResource>;

export const ServicePortSchema = z.strictObject({
  number: z.number().int().min(1).max(65535),
  protocol: z.string().optional(),
  name: z.string().optional(),
  targetPort: z.number().int().min(1).max(65535).optional(),
});

export const ServiceEntryResource = dialectResource(
  ISTIO_NETWORKING,
  'ServiceEntry',
  z.strictObject({
    hosts: z.array(z.string().min(1)).min(1),
    addresses: z.array(z.string()).optional(),
    ports: z.array(ServicePortSchema).default([]),
    location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).default('MESH_EXTERNAL'),
    resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).default('NONE'),
    endpoints: z
      .array(
        z.strictObject({
          address: z.string().optional(),
          ports: z.record(z.string(), z.number().int().min(1).max(65535)).optional(),
          labels: z.record(z.string(), z.string()).optional(),
          network: z.string().optional(),
          locality: z.string().optional(),
          weight: z.number().int().min(0).optional(),
          serviceAccount: z.string().optional(),
        }),
      )
      .default([]),
    workloadSelector: WorkloadSelector.optional(),
    exportTo: z.array(z.string()).optional(),
    subjectAltNames: z.array(z.string()).optional(),
  }),
);
export type ServiceEntryResource = z.infer<typeof ServiceEntryResource>;

export const SidecarResource = dialectResource(
  ISTIO_NETWORKING,
  'Sidecar',
  z.strictObject({
    workloadSelector: WorkloadSelector.optional(),
    ingress: z.array(z.unknown()).optional(),
    egress: z
      .array(
        z.strictObject({
          port: z.unknown().optional(),
          bind: z.string().optional(),
          captureMode: z.string().optional(),
          hosts: z.array(z.string().min(1)).min(1),
        }),
      )
      .optional(),
    outboundTrafficPolicy: z
      .strictObject({
        mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(),
        egressProxy: z.unknown().optional(),
      })
      .optional(),
    inboundConnectionPool: z.unknown().optional(),
  }),
);
export type SidecarResource = z.infer<typeof SidecarResource>;
