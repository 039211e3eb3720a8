// Encodes a proxy's snapshot for the wire and fingerprints it, cheaply at scale: the compiler
// hands every proxy of a namespace the same cluster and route-table objects, so each is turned
// into JSON (and hashed) once per compile, not once per proxy.
import { createHash } from 'node:crypto';
import type { ProxyConfig } from '../model/schema.ts';

interface Piece {
  json: string;
  hash: string;
}

const pieces = new WeakMap<object, Piece>();

function pieceOf(value: unknown): Piece {
  const cacheable = typeof value === 'object' && value !== null;
  if (cacheable) {
    const hit = pieces.get(value);
    if (hit !== undefined) return hit;
  }
  const json = JSON.stringify(value) ?? 'null';
  const piece = { json, hash: createHash('sha1').update(json).digest('base64') };
  if (cacheable) pieces.set(value, piece);
  return piece;
}

export interface EncodedSnapshot {
  /** Identifies the content whatever the version label, so an unchanged config is not resent. */
  fingerprint: string;
  /** The `snapshot` stream message as JSON text. */
  message(): string;
}

export function encodeSnapshot(version: string, config: ProxyConfig): EncodedSnapshot {
  const fields: [string, Piece | Piece[]][] = [];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'version' || value === undefined) continue;
    fields.push([key, Array.isArray(value) ? value.map(pieceOf) : pieceOf(value)]);
  }
  const fp = createHash('sha1');
  for (const [key, p] of fields) {
    fp.update(key);
    for (const one of Array.isArray(p) ? p : [p]) fp.update(one.hash);
    fp.update('|');
  }
  return {
    fingerprint: fp.digest('base64'),
    message() {
      let body = `"version":${JSON.stringify(version)}`;
      for (const [key, p] of fields) {
        body += `,${JSON.stringify(key)}:`;
        body += Array.isArray(p) ? `[${p.map((one) => one.json).join(',')}]` : p.json;
      }
      return `{"type":"snapshot","version":${JSON.stringify(version)},"config":{${body}}}`;
    },
  };
}
