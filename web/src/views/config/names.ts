// How resources are named across the API (`Kind/ns/name`, `Kind ns/name`, `resources/Kind/ns/name`)
// and the config view's link to one.
import { href } from '../../router.ts';

export const SOURCE_ANNOTATION = 'trellis.io/lowered-from';

/** #/config link to a resource: `Kind/ns/name` (as explain names them) or its parts. */
export function resourceHref(kind: string, namespace: string, name: string): string {
  return href(['config'], { kind, namespace, name });
}

/** `Kind/ns/name`, `Kind ns/name` (the lowered-from annotation), or `resources/Kind/ns/name`. */
export function parseResourceName(
  text: string,
): { kind: string; namespace: string; name: string } | undefined {
  const m = /^(?:resources\/)?([A-Za-z]+)[/ ]([^/\s]+)\/([^/\s]+)$/.exec(text.trim());
  return m === null ? undefined : { kind: m[1]!, namespace: m[2]!, name: m[3]! };
}
