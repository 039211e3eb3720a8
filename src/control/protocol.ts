// The push stream between a sidecar and the control plane: one WebSocket per proxy, JSON text
// messages. The sidecar says who it is (and registers its workload), then receives versioned
// snapshots of the internal model and answers each with ACK or NACK. Heartbeats carry the app's
// readiness; a proxy that stops sending them is dropped from the registry within seconds.
import { z } from 'zod';
import { ReportEjectionsMessage, StatsConfigMessage, StatsMessage } from './stats/message.ts';
import { TapEventsMessage, TapStartMessage, TapStopMessage } from './tap/messages.ts';

export const STREAM_PATH = '/api/v1/stream';
/** Bumped when a message changes shape; a control plane refuses a client that speaks another. */
export const PROTOCOL_VERSION = 1;

/** The workload a sidecar registers: the spec of a `Workload` resource plus its metadata. */
export const WorkloadRegistration = z.strictObject({
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63),
  labels: z.record(z.string(), z.string()),
  spec: z.strictObject({
    service: z.string().min(1),
    serviceAccount: z.string().min(1),
    address: z.string().min(1),
    ports: z.strictObject({
      inbound: z.number().int().min(1).max(65535),
      outbound: z.number().int().min(1).max(65535).optional(),
      admin: z.number().int().min(1).max(65535).optional(),
      app: z.number().int().min(1).max(65535),
      service: z.number().int().min(1).max(65535).optional(),
    }),
    protocol: z.enum(['http', 'http2', 'grpc', 'tcp']),
    locality: z.strictObject({ region: z.string().optional(), zone: z.string().optional() }).optional(),
    ready: z.boolean(),
  }),
});
export type WorkloadRegistration = z.infer<typeof WorkloadRegistration>;

export const ClientMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('hello'),
    protocol: z.number().int(),
    proxy: z.strictObject({
      id: z.string().min(1).max(253),
      trellis: z.string(),
      /** In transparent mode (iptables): the snapshot then carries interception and mesh DNS. */
      transparent: z.boolean().optional(),
    }),
    workload: WorkloadRegistration,
    /** Services this proxy calls (`name` or `name.namespace`); absent means all. */
    scope: z.array(z.string()).optional(),
  }),
  z.strictObject({ type: z.literal('ack'), version: z.string() }),
  z.strictObject({ type: z.literal('nack'), version: z.string(), error: z.string().max(64 * 1024) }),
  z.strictObject({
    type: z.literal('status'),
    ready: z.boolean(),
    /** The proxy's clock (ms since the epoch): `trellis check` reports skew. */
    time: z.number().optional(),
  }),
  /** A clean goodbye: deregister now instead of waiting for the heartbeat to lapse. */
  z.strictObject({ type: z.literal('bye') }),
  /** A certificate signing request for the SPIFFE ID the welcome named (first issue and renewals). */
  z.strictObject({ type: z.literal('csr'), id: z.number().int(), csr: z.string().max(16 * 1024) }),
  /** Golden metrics: the edge cells that changed since the last report (stats/message.ts). */
  StatsMessage,
  /** Live tap: what a tap session saw (tap/messages.ts). */
  TapEventsMessage,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const ServerMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('welcome'),
    heartbeatMs: z.number().int().positive(),
    /** The SPIFFE ID this proxy may obtain a certificate for; absent when the mesh runs without a CA. */
    identity: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('certificate'),
    id: z.number().int(),
    /** PEM: leaf first, then intermediates (never the root). */
    certChain: z.string(),
    trustBundle: z.string(),
  }),
  /** Renew the certificate now (the CA's root changed). */
  z.strictObject({ type: z.literal('renew') }),
  z.strictObject({
    type: z.literal('csr-error'),
    id: z.number().int(),
    code: z.string(),
    message: z.string(),
  }),
  z.strictObject({ type: z.literal('snapshot'), version: z.string(), config: z.unknown() }),
  z.strictObject({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /** How often to send `stats` (after welcome; a proxy sends none unless asked). */
  StatsConfigMessage,
  /** Put the ejected endpoints in `stats` reports (after stats-config; stats/message.ts). */
  ReportEjectionsMessage,
  /** Live tap sessions (`trellis tap`, tap/messages.ts). */
  TapStartMessage,
  TapStopMessage,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Close codes (4000–4999 are the application's). */
export const CloseCode = {
  badMessage: 4400,
  refused: 4409,
  /** The credential does not allow this workload (bad, revoked or expired token; another account). */
  unauthorized: 4401,
  shuttingDown: 4503,
} as const;
