// Where an internal resource came from: the resources named by its `trellis.io/lowered-from`
// annotation (a VirtualService, a TrafficSplit, …), or itself, each shown as stored, in YAML.
import { stringify } from 'yaml';
import { ErrorNote } from '../../components/golden.tsx';
import { useApi } from '../../hooks.ts';
import type { ResourceObject } from '../../types.ts';
import { sourcesOf, type SourceRef } from './route-text.ts';

const refText = (s: SourceRef): string => `${s.kind} ${s.namespace}/${s.name}`;

export function SourceOf(props: { resource: ResourceObject }) {
  const { lowered, sources } = sourcesOf(props.resource);
  return (
    <div class="source-of">
      <p class="muted">
        {lowered
          ? `Lowered from ${sources.map(refText).join(', ') || 'a resource the annotation does not name'}.`
          : 'A native resource: it is its own source.'}
      </p>
      {sources.map((s) => (
        <SourceYaml key={refText(s)} source={s} />
      ))}
    </div>
  );
}

/** One stored resource in YAML, folded; `label` replaces the summary's "Source: …". */
export function SourceYaml(props: { source: SourceRef; label?: string }) {
  const s = props.source;
  const path = `/api/v1/resources/${[s.kind, s.namespace, s.name].map(encodeURIComponent).join('/')}`;
  const { data, error, loading } = useApi<ResourceObject>(path);
  return (
    <details class="source-details">
      <summary>{props.label ?? `Source: ${refText(s)}`}</summary>
      {loading && data === undefined && <p class="muted">Loading…</p>}
      <ErrorNote error={error} />
      {data !== undefined && (
        <pre class="source" aria-label={`${refText(s)} as stored, in YAML`}>
          {stringify(data)}
        </pre>
      )}
    </details>
  );
}
