// Names a sidecar shares with the snapshots it is sent, in a module of their own so the sidecar
// can name them without loading the snapshot compiler.

/** The inbound cluster that reaches the local app (the sidecar's bootstrap config uses it too). */
export const INBOUND_APP_CLUSTER = 'inbound:app';
