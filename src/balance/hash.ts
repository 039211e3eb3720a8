// MurmurHash3 x86_32 (Austin Appleby, public domain). Small, fast, well distributed, and easy to
// test against published vectors. 32 bits are enough here: the largest table (8.4M entries) sees
// only a handful of colliding points, and a collision merely orders two points arbitrarily.
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixTail(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  return h ^ k;
}

function finalize(h: number, byteLength: number): number {
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of a byte array. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  let h = seed | 0;
  const len = bytes.length;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h = mixBlock(h, k);
  }
  const rest = len & 3;
  if (rest !== 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[blocks + 2]! << 16;
    if (rest >= 2) k ^= bytes[blocks + 1]! << 8;
    k ^= bytes[blocks]!;
    h = mixTail(h, k);
  }
  return finalize(h, len);
}

/**
 * MurmurHash3 x86_32 of a string's UTF-16LE encoding, read straight from the code units so that
 * hashing a request key allocates nothing. Equal to murmur3Bytes(Buffer.from(s, 'utf16le')).
 */
export function murmur3String(s: string, seed = 0): number {
  let h = seed | 0;
  const units = s.length;
  const pairs = units & ~1;
  for (let i = 0; i < pairs; i += 2) {
    h = mixBlock(h, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
  }
  if (units & 1) h = mixTail(h, s.charCodeAt(units - 1));
  return finalize(h, units * 2);
}
