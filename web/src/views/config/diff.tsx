// Unified diffs of YAML (GET /api/v1/diff), as `trellis diff` prints them: added lines green, removed
// lines red, each keeping its +/- sign so the change reads without colour.
import type { ResourceDiff } from '../../types.ts';

function lineClass(line: string): string | undefined {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('===')) return 'diff-file';
  if (line.startsWith('@@')) return 'diff-hunk';
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-del';
  return undefined;
}

const shortKey = (key: string): string => key.replace(/^resources\//, '');

export function DiffBlock(props: { diff: ResourceDiff }) {
  const lines = props.diff.patch.replace(/\n$/, '').split('\n');
  const added = lines.filter((l) => lineClass(l) === 'diff-add').length;
  const removed = lines.filter((l) => lineClass(l) === 'diff-del').length;
  return (
    <figure class="diff">
      <figcaption>
        <code>{shortKey(props.diff.key)}</code>{' '}
        <span class="muted">
          ({added} {added === 1 ? 'line' : 'lines'} added, {removed} removed)
        </span>
      </figcaption>
      <pre class="source">
        {lines
          // The ===== banner says nothing the caption does not.
          .filter((l) => !l.startsWith('==='))
          .map((l) => (
            <span class={lineClass(l)}>
              {l}
              {'\n'}
            </span>
          ))}
      </pre>
    </figure>
  );
}

export function DiffList(props: { diffs: ResourceDiff[] }) {
  if (props.diffs.length === 0) return <p class="muted">No differences.</p>;
  return (
    <>
      {props.diffs.map((d) => (
        <DiffBlock key={d.key} diff={d} />
      ))}
    </>
  );
}
