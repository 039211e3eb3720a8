// Who talks to whom: the edges of the service graph over a window, with the identities mTLS proved.
// An edge is measured on the server side when the callee runs a sidecar (the client identity is the
// one its certificate proved; the caller's deployment is what its sidecar's peer header said), else
// on the client side (the server identity is the one the caller's sidecar expected).
import type { CallerOf } from './callers.ts';
import { Accumulator, forEachRow, partyOf, refKey, type ResourceRef, type StatKind } from './query.ts';
import type { SeriesDef, WindowData } from './store.ts';

export interface Edge {
  src: ResourceRef;
  dst: ResourceRef;
  /** Where it was measured: `server` (the callee's sidecar) or `client` (the caller's). */
  side: 'server' | 'client';
  /** Every request and connection of the edge in the window went over mesh mTLS. */
  secured: boolean;
  clientIds: string[];
  serverIds: string[];
  acc: Accumulator;
}

interface Building extends Omit<Edge, 'clientIds' | 'serverIds'> {
  clientIds: Set<string>;
  serverIds: Set<string>;
}

const UNKNOWN = 'unknown';

/**
 * The edges between resources of `srcKind` (callers) and `dstKind` (callees); `keep` filters them.
 * Server-side measurements win: a client-side one is used only for pairs no server reported.
 * `callerOf` names callers the labels do not (services, instances: see callers.ts).
 */
export function edgesOf(
  data: WindowData,
  srcKind: StatKind,
  dstKind: StatKind,
  keep: (src: ResourceRef, dst: ResourceRef) => boolean = () => true,
  callerOf?: CallerOf,
): Edge[] {
  const server = new Map<string, Building>();
  const client = new Map<string, Building>();
  const callerRef = (def: SeriesDef): ResourceRef =>
    partyOf(def, 'source', srcKind) ?? callerOf?.(def) ?? unknownParty(def, 'source');
  // A caller names the backend it picked (a canary's reviews-v2) where the callee's sidecar names
  // its own service (reviews): the same requests, once per side. Callee workloads that reported a
  // caller's requests make that caller's client-side series to them redundant.
  const reported = new Set<string>();
  const calleeKey = (def: SeriesDef): string | undefined => {
    const w = def.labels.destination_workload;
    return w === undefined || w === UNKNOWN
      ? undefined
      : `${refKey(callerRef(def))}\u0000${def.labels.destination_namespace ?? ''}/${w}`;
  };
  const noteServer = (def: SeriesDef): void => {
    const k = def.reporter === 'destination' ? calleeKey(def) : undefined;
    if (k !== undefined) reported.add(k);
  };
  forEachRow(data.http, noteServer);
  forEachRow(data.tcp, noteServer);
  const visit = (def: SeriesDef, add: (a: Accumulator) => void): void => {
    if (def.reporter !== 'destination') {
      const k = calleeKey(def);
      if (k !== undefined && reported.has(k)) return;
    }
    const src = callerRef(def);
    const dst = partyOf(def, 'destination', dstKind);
    if (dst === undefined || !keep(src, dst)) return;
    const side = def.reporter === 'destination' ? 'server' : 'client';
    const into = side === 'server' ? server : client;
    const key = `${refKey(src)}\u0000${refKey(dst)}`;
    let e = into.get(key);
    if (e === undefined) {
      e = {
        src,
        dst,
        side,
        secured: true,
        clientIds: new Set(),
        serverIds: new Set(),
        acc: new Accumulator(),
      };
      into.set(key, e);
    }
    if (def.labels.mtls !== 'true') e.secured = false;
    const clientId = def.labels.source_principal;
    const serverId = def.labels.destination_principal;
    if (clientId !== undefined && clientId !== UNKNOWN) e.clientIds.add(clientId);
    if (serverId !== undefined && serverId !== UNKNOWN) e.serverIds.add(serverId);
    add(e.acc);
  };
  forEachRow(data.http, (def, v, at) => visit(def, (a) => a.addHttp(def, v, at)));
  forEachRow(data.tcp, (def, v, at) => visit(def, (a) => a.addTcp(v, at)));
  for (const [def, n] of data.open) visit(def, (a) => a.addOpen(n));
  for (const [key, e] of client) if (!server.has(key)) server.set(key, e);
  return [...server.values()]
    .map((e) => ({ ...e, clientIds: [...e.clientIds].sort(), serverIds: [...e.serverIds].sort() }))
    .sort(
      (a, b) =>
        a.src.namespace.localeCompare(b.src.namespace) ||
        a.src.name.localeCompare(b.src.name) ||
        a.dst.namespace.localeCompare(b.dst.namespace) ||
        a.dst.name.localeCompare(b.dst.name),
    );
}

/** A caller the labels do not name (an unmeshed client): `unknown` in its namespace if known. */
function unknownParty(def: SeriesDef, side: 'source' | 'destination'): ResourceRef {
  const ns = side === 'source' ? def.labels.source_namespace : def.labels.destination_namespace;
  return { namespace: ns ?? UNKNOWN, name: UNKNOWN };
}
