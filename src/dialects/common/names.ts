// Names of the objects lowering synthesizes (subset Services, lowered routes). They must be
// DNS-1123 labels like every stored name, deterministic, and unlikely to collide with a name a
// user picks: parts are joined with "--" (e.g. Service `reviews--v2` for subset v2 of reviews).
import { createHash } from 'node:crypto';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL = 63;

/**
 * `parts` joined with "--" when that is a valid DNS label as is; otherwise lowercased, with every
 * other character turned into "-", cut to fit, and suffixed with 8 hex digits of a hash of the
 * original text, so two different inputs never meet on one name.
 */
export function syntheticLabel(...parts: string[]): string {
  const joined = parts.join('--');
  if (joined.length <= MAX_LABEL && DNS_LABEL.test(joined)) return joined;
  const hash = createHash('sha256').update(joined).digest('hex').slice(0, 8);
  const cleaned = joined
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, MAX_LABEL - hash.length - 1)
    .replace(/^-+|-+$/g, '');
  return cleaned === '' ? `x-${hash}` : `${cleaned}-${hash}`;
}

/** The Service that stands for one subset of a service: `<service>--<subset>`. */
export function subsetServiceName(service: string, subset: string): string {
  return syntheticLabel(service, subset);
}

export function isDnsLabel(text: string): boolean {
  return text.length <= MAX_LABEL && DNS_LABEL.test(text);
}

/**
 * A route name the model accepts (letters, digits and . _ : / -, starting alphanumeric), from a
 * free-form one such as Linkerd's "GET /books/{id}.json" → "GET_/books/_id_.json".
 */
export function routeName(text: string): string | undefined {
  const name = text
    .replace(/[^A-Za-z0-9._:/-]+/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 253);
  return name === '' ? undefined : name;
}
