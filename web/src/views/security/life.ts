// What is left of a workload certificate's life. Sidecars renew at 2/3 of the lifetime, so under a
// third left means renewal is late.
import type { ProxyStatus } from '../../types.ts';

type Certificate = NonNullable<ProxyStatus['certificate']>;

/** What is left of a certificate's life, as a badge: never colour alone. */
export function lifeLeft(
  cert: Certificate,
  now = Date.now(),
): { tone: 'good' | 'warn' | 'bad'; text: string } {
  const start = Date.parse(cert.issuedAt);
  const end = Date.parse(cert.notAfter);
  if (end <= now) return { tone: 'bad', text: 'expired' };
  const fraction = (end - now) / Math.max(1, end - start);
  if (fraction < 1 / 3)
    return { tone: 'warn', text: `renewal late (${Math.floor(fraction * 100)}% of life left)` };
  return { tone: 'good', text: `valid (${Math.floor(fraction * 100)}% of life left)` };
}
