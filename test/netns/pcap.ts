// Just enough of a packet capture to check what crossed a link: the classic pcap format that
// `tcpdump -w` writes (Ethernet, IPv4, TCP), TCP payloads reassembled per direction, and a walk
// over TLS records to say whether a stream is TLS from its first byte to its last.

export interface TcpStream {
  /** "src:port > dst:port". */
  key: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** The SYN was captured: the stream is known from its first byte. */
  fromStart: boolean;
  /** Payload in sequence order, as far as it is contiguous. */
  bytes: Buffer;
  /** Payload bytes past a hole (a segment the capture missed). */
  afterGap: number;
}

export interface Capture {
  packets: number;
  streams: TcpStream[];
  /** Every TCP payload as captured (retransmissions included), for substring checks. */
  rawPayload: Buffer;
}

function addr(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

interface Segment {
  seq: number;
  payload: Buffer;
}

/** Parses a pcap file (microsecond or nanosecond, either byte order) with Ethernet frames. */
export function parsePcap(file: Buffer): Capture {
  if (file.length < 24) return { packets: 0, streams: [], rawPayload: Buffer.alloc(0) };
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d)
    throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  const u32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  if (u32(20) !== 1) throw new Error(`link type ${u32(20)}, expected Ethernet (1)`);
  const flows = new Map<string, { s: Omit<TcpStream, 'bytes' | 'afterGap'>; isn: number; segs: Segment[] }>();
  const raw: Buffer[] = [];
  let packets = 0;
  for (let at = 24; at + 16 <= file.length;) {
    const incl = u32(at + 8);
    const frame = file.subarray(at + 16, at + 16 + incl);
    at += 16 + incl;
    packets++;
    if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = frame.subarray(14);
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ip[9] !== 6) continue;
    const ipLen = Math.min(ip.readUInt16BE(2), ip.length);
    const tcp = ip.subarray(ihl, ipLen);
    if (tcp.length < 20) continue;
    const srcPort = tcp.readUInt16BE(0);
    const dstPort = tcp.readUInt16BE(2);
    const seq = tcp.readUInt32BE(4);
    const flags = tcp[13]!;
    const payload = tcp.subarray((tcp[12]! >> 4) * 4);
    const src = addr(ip, 12);
    const dst = addr(ip, 16);
    const key = `${src}:${srcPort} > ${dst}:${dstPort}`;
    let flow = flows.get(key);
    if (flow === undefined) {
      flow = { s: { key, src, dst, srcPort, dstPort, fromStart: false }, isn: seq, segs: [] };
      flows.set(key, flow);
    }
    if ((flags & 0x02) !== 0) {
      flow.s.fromStart = true;
      flow.isn = (seq + 1) >>> 0;
    }
    if (payload.length > 0) {
      flow.segs.push({ seq, payload });
      raw.push(payload);
    }
  }
  const streams: TcpStream[] = [];
  for (const { s, isn, segs } of flows.values()) {
    // Offsets from the first byte (wrapping), so retransmissions and reordering sort out.
    const base = s.fromStart ? isn : Math.min(...segs.map((g) => g.seq));
    const ordered = segs
      .map((g) => ({ off: (g.seq - base) >>> 0, payload: g.payload }))
      .sort((a, b) => a.off - b.off);
    const parts: Buffer[] = [];
    let next = 0;
    let afterGap = 0;
    for (const g of ordered) {
      if (afterGap > 0 || g.off > next) {
        afterGap += g.payload.length;
        continue;
      }
      const end = g.off + g.payload.length;
      if (end > next) parts.push(g.payload.subarray(next - g.off));
      next = Math.max(next, end);
    }
    streams.push({ ...s, bytes: Buffer.concat(parts), afterGap });
  }
  return { packets, streams, rawPayload: Buffer.concat(raw) };
}

export interface TlsWalk {
  /** Every byte was inside a well-formed record (the last one may be cut off by the capture's end). */
  ok: boolean;
  records: number;
  /** Records by content type: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data. */
  byType: Record<number, number>;
  /** Where the walk stopped when not ok, and the bytes found there. */
  badAt?: number;
  badBytes?: string;
}

/** TLS record headers back to back: type 20-23, version 3.1-3.4, length at most 2^14 + 2048. */
export function walkTlsRecords(b: Buffer): TlsWalk {
  const out: TlsWalk = { ok: true, records: 0, byType: {} };
  let at = 0;
  while (at + 5 <= b.length) {
    const type = b[at]!;
    const major = b[at + 1]!;
    const minor = b[at + 2]!;
    const len = b.readUInt16BE(at + 3);
    if (type < 20 || type > 23 || major !== 3 || minor < 1 || minor > 4 || len > 16384 + 2048) {
      return { ...out, ok: false, badAt: at, badBytes: b.subarray(at, at + 16).toString('hex') };
    }
    out.records++;
    out.byType[type] = (out.byType[type] ?? 0) + 1;
    at += 5 + len;
  }
  return out;
}
