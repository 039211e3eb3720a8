// Encodes a proxy's snapshot for the wire and fingerprints it, cheaply at scale. The compiler hands
// every proxy of a namespace the same outbound objects (the virtual hosts array, each cluster), so
// each is turned into JSON bytes (and hashed) once per compile, not once per proxy, and the message
// is a few segments in which those big shared bytes appear by reference: a push to 2,000 proxies
// writes the same buffers 2,000 times instead of building, copying and UTF-8-encoding 2,000 strings.
import { createHash } from 'node:crypto';
import type { ProxyConfig } from '../model/schema.ts';

/** The JSON bytes of one value, as segments (big shared ones by reference), and a content hash. */
interface Piece {
  segs: Buffer[];
  hash: string;
}

/** A segment this big is referenced, never copied; smaller neighbours are joined into one. */
const SHARE_BYTES = 16 * 1024;
/** Arrays this long look for their elements, in order, in an already encoded run (see `arrayPiece`). */
const RUN_MIN = 16;
/** How far into such an array the shared run may start (after the proxy's own elements). */
const RUN_PROBE = 8;
/** Runs remembered per element (scoped proxies give a cluster several runs). */
const RUNS_PER_ELEMENT = 8;

function sha1(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('base64');
}
const HASH_LEN = sha1('').length;

/** Builds a segment list: small parts are joined, big ones kept by reference. */
class Segments {
  private readonly out: Buffer[] = [];
  private small: Buffer[] = [];
  private smallBytes = 0;

  text(s: string): void {
    this.add(Buffer.from(s));
  }

  add(b: Buffer): void {
    if (b.length >= SHARE_BYTES) {
      this.flush();
      this.out.push(b);
    } else if (b.length > 0) {
      this.small.push(b);
      this.smallBytes += b.length;
    }
  }

  piece(p: Piece): void {
    for (const b of p.segs) this.add(b);
  }

  done(): Buffer[] {
    this.flush();
    return this.out;
  }

  private flush(): void {
    if (this.small.length === 0) return;
    this.out.push(this.small.length === 1 ? this.small[0]! : Buffer.concat(this.small, this.smallBytes));
    this.small = [];
    this.smallBytes = 0;
  }
}

// Keyed by the compiler's objects: an entry lives as long as the compile that made the object.
const leaves = new WeakMap<object, Piece>();
const structured = new WeakMap<object, Piece>();

/** JSON.stringify of the whole value, hashed; cached per object. */
function leafPiece(value: unknown): Piece {
  const cacheable = typeof value === 'object' && value !== null;
  if (cacheable) {
    const hit = leaves.get(value);
    if (hit !== undefined) return hit;
  }
  const buf = Buffer.from(JSON.stringify(value) ?? 'null');
  const piece = { segs: [buf], hash: sha1(buf) };
  if (cacheable) leaves.set(value, piece);
  return piece;
}

/**
 * Objects and arrays down to `depth` levels are encoded member by member, so a fresh per-proxy
 * object holding a shared one (the outbound route table holds the shared virtual hosts) reuses the
 * shared bytes. The hash of a member-by-member piece is built from its members' hashes; where a
 * value sits in the snapshot decides how it is encoded, so equal content always hashes equal.
 */
function piece(value: unknown, depth: number): Piece {
  if (depth <= 0 || typeof value !== 'object' || value === null) return leafPiece(value);
  const hit = structured.get(value);
  if (hit !== undefined) return hit;
  const p = Array.isArray(value)
    ? arrayPiece(value, depth)
    : objectPiece(value as Record<string, unknown>, depth);
  structured.set(value, p);
  return p;
}

function objectPiece(obj: Record<string, unknown>, depth: number): Piece {
  const segs = new Segments();
  const h = createHash('sha1').update('{');
  let sep = '{';
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    const p = piece(v, depth - 1);
    segs.text(`${sep}${JSON.stringify(key)}:`);
    segs.piece(p);
    h.update(key).update('\0').update(p.hash);
    sep = ',';
  }
  segs.text(sep === '{' ? '{}' : '}');
  return { segs: segs.done(), hash: h.digest('base64') };
}

/** Elements of an array encoded once, in order, joined by commas, with where each one starts. */
interface Run {
  elems: readonly unknown[];
  /** `e0,e1,…` as JSON. */
  buf: Buffer;
  offsets: number[];
  /** The elements' hashes, concatenated (HASH_LEN characters each). */
  hashes: string;
}
const runsOf = new WeakMap<object, { run: Run; index: number }[]>();

/** A run whose tail from some index holds exactly `arr[s..]`, for a small s. */
function findRun(arr: readonly unknown[]): { s: number; run: Run; j: number } | undefined {
  for (let s = 0; s < Math.min(arr.length, RUN_PROBE); s++) {
    const el = arr[s];
    if (typeof el !== 'object' || el === null) continue;
    for (const { run, index: j } of runsOf.get(el) ?? []) {
      if (run.elems.length - j !== arr.length - s) continue;
      let same = true;
      for (let k = s + 1; k < arr.length && same; k++) same = arr[k] === run.elems[j + k - s];
      if (same) return { s, run, j };
    }
  }
  return undefined;
}

function makeRun(arr: readonly unknown[]): Run {
  const parts: Buffer[] = [];
  const offsets: number[] = [];
  let hashes = '';
  let at = 0;
  const comma = Buffer.from(',');
  for (const [i, el] of arr.entries()) {
    const p = leafPiece(el);
    if (i > 0) {
      parts.push(comma);
      at += comma.length;
    }
    offsets.push(at);
    for (const b of p.segs) {
      parts.push(b);
      at += b.length;
    }
    hashes += p.hash;
  }
  const run = { elems: [...arr], buf: Buffer.concat(parts, at), offsets, hashes };
  for (const [index, el] of arr.entries()) {
    if (typeof el !== 'object' || el === null) continue;
    const list = runsOf.get(el) ?? [];
    if (list.length < RUNS_PER_ELEMENT) list.push({ run, index });
    runsOf.set(el, list);
  }
  return run;
}

/**
 * A long array is mostly shared elements after a few of the proxy's own (its clusters: its app's,
 * then every service's). The first proxy's array becomes a run; the next proxies' arrays find
 * their shared tail in it and send that slice of its bytes, copying only their own few elements.
 */
function arrayPiece(arr: readonly unknown[], depth: number): Piece {
  const segs = new Segments();
  if (arr.length < RUN_MIN) {
    const h = createHash('sha1').update('[');
    segs.text('[');
    for (const [i, el] of arr.entries()) {
      const p = piece(el, depth - 1);
      if (i > 0) segs.text(',');
      segs.piece(p);
      h.update(p.hash);
    }
    segs.text(']');
    return { segs: segs.done(), hash: h.digest('base64') };
  }
  const found = findRun(arr);
  const { s, run, j } = found ?? { s: 0, run: makeRun(arr), j: 0 };
  const h = createHash('sha1').update('[');
  segs.text('[');
  for (let i = 0; i < s; i++) {
    const p = leafPiece(arr[i]);
    segs.piece(p);
    segs.text(',');
    h.update(p.hash);
  }
  segs.add(j === 0 ? run.buf : run.buf.subarray(run.offsets[j]));
  segs.text(']');
  h.update(j === 0 ? run.hashes : run.hashes.slice(j * HASH_LEN));
  return { segs: segs.done(), hash: h.digest('base64') };
}

export interface EncodedSnapshot {
  /** Identifies the content whatever the version label, so an unchanged config is not resent. */
  fingerprint: string;
  /** The `snapshot` stream message as JSON bytes, in segments to send as fragments of one message. */
  segments(): Buffer[];
  /** The same message as one string. */
  message(): string;
}

/** Depth of member-by-member encoding below a config field (routeTables → table → virtualHosts). */
const FIELD_DEPTH = 2;

export function encodeSnapshot(version: string, config: ProxyConfig): EncodedSnapshot {
  const fields: [string, Piece][] = [];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'version' || value === undefined) continue;
    fields.push([key, piece(value, FIELD_DEPTH)]);
  }
  const fp = createHash('sha1');
  for (const [key, p] of fields) fp.update(key).update('\0').update(p.hash).update('|');
  const segments = (): Buffer[] => {
    const v = JSON.stringify(version);
    const segs = new Segments();
    segs.text(`{"type":"snapshot","version":${v},"config":{"version":${v}`);
    for (const [key, p] of fields) {
      segs.text(`,${JSON.stringify(key)}:`);
      segs.piece(p);
    }
    segs.text('}}');
    return segs.done();
  };
  return {
    fingerprint: fp.digest('base64'),
    segments,
    message: () => Buffer.concat(segments()).toString('utf8'),
  };
}
