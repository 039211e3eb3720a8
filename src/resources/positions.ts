// Where a path inside a YAML document sits in its file. Copied (minimal) from src/model/load.ts,
// plus key positions for unknown fields; to be deduplicated with it later.
import { isMap, isNode, isScalar, type Document, type LineCounter } from 'yaml';

export type PathSegment = string | number;

export interface Position {
  line: number;
  column: number;
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/**
 * The deepest node along `path` that exists. Ranges are offsets into the whole source, so one
 * LineCounter shared by every document of a stream gives lines of the file, not of the document.
 */
export function positionOf(doc: Document, lines: LineCounter, path: readonly PathSegment[]): Position {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

/** The position of `key` itself in the mapping at `path` (for unknown fields), else of the mapping. */
export function keyPositionOf(
  doc: Document,
  lines: LineCounter,
  path: readonly PathSegment[],
  key: string,
): Position {
  const map = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (isMap(map)) {
    for (const pair of map.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
        const pos = lines.linePos(pair.key.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
  }
  return positionOf(doc, lines, path);
}
