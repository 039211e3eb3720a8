// The IPv4 range service virtual IPs are allocated from (default 240.240.0.0/16, the class E block
// Istio's DNS proxy auto-allocates ServiceEntry addresses from: never routed, so a VIP cannot
// shadow a real host).
import net from 'node:net';
import { TrellisError } from '../../errors.ts';

export const DEFAULT_VIP_RANGE = '240.240.0.0/16';

export class VipRangeError extends TrellisError {
  constructor(range: string, why: string) {
    super('TRELLIS_VIP_RANGE_INVALID', `virtual IP range "${range}": ${why} (e.g. ${DEFAULT_VIP_RANGE})`);
  }
}

export interface VipRange {
  cidr: string;
  /** First and last address handed out, as numbers (network and broadcast addresses excluded). */
  first: number;
  last: number;
}

export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `a.b.c.d/len`, IPv4 only; the base must be the network address. */
export function parseVipRange(cidr: string): VipRange {
  const [base = '', lenText = '', ...rest] = cidr.split('/');
  const len = Number(lenText);
  if (rest.length > 0 || !net.isIPv4(base) || !/^\d{1,2}$/.test(lenText) || len > 32)
    throw new VipRangeError(cidr, 'write an IPv4 CIDR block');
  if (len < 8) throw new VipRangeError(cidr, 'give a prefix of at least /8');
  const size = 2 ** (32 - len);
  const network = ipv4ToNumber(base);
  if (network % size !== 0) throw new VipRangeError(cidr, `${base} is not the network address of a /${len}`);
  // /31 and /32 have no network or broadcast address to skip (RFC 3021).
  const edge = size >= 4 ? 1 : 0;
  return { cidr, first: network + edge, last: network + size - 1 - edge };
}

export function inRange(range: VipRange, address: string): boolean {
  if (!net.isIPv4(address)) return false;
  const n = ipv4ToNumber(address);
  return n >= range.first && n <= range.last;
}
