// The stored resources of one kind (GET /api/v1/resources/KIND), and the YAML of the one picked.
// Kind, namespace and name live in the address (#/config?kind=…&namespace=…&name=…): other views
// link to a resource, and a reload keeps it open.
import { Fragment } from 'preact';
import { useEffect } from 'preact/hooks';
import { stringify } from 'yaml';
import { ErrorNote } from '../../components/golden.tsx';
import { useApi } from '../../hooks.ts';
import { useMesh } from '../../mesh.tsx';
import { href, navigate } from '../../router.ts';
import { parseResourceName, resourceHref, SOURCE_ANNOTATION } from './names.ts';
import { RESOURCE_KINDS, type ResourceList, type ResourceObject } from '../../types.ts';

/** Each resource a lowered one came from, as a link (the annotation lists them, comma-separated). */
export function SourceLinks(props: { text: string | undefined }) {
  if (props.text === undefined) return <span class="muted">applied</span>;
  const parts = props.text.split(',').map((s) => s.trim());
  return (
    <>
      {parts.map((p, i) => {
        const ref = parseResourceName(p);
        return (
          <Fragment key={p}>
            {i > 0 && ', '}
            {ref === undefined ? p : <a href={resourceHref(ref.kind, ref.namespace, ref.name)}>{p}</a>}
          </Fragment>
        );
      })}
    </>
  );
}

interface Props {
  kind: string;
  namespace: string | null;
  name: string | null;
}

export function ResourcesPanel(props: Props) {
  const kind = RESOURCE_KINDS.find((k) => k.toLowerCase() === props.kind.toLowerCase()) ?? props.kind;
  const list = useApi<ResourceList>(`/api/v1/resources/${encodeURIComponent(kind)}`, 15_000);
  // A change to the config (here, the CLI, another tab) shows at once, not at the next refresh.
  const revision = useMesh().event?.revision;
  useEffect(() => {
    if (revision !== undefined) list.reload();
  }, [revision]);
  const items = list.data?.kind === kind ? list.data.items : [];
  const selected: ResourceObject | undefined = items.find(
    (r) => r.metadata.namespace === props.namespace && r.metadata.name === props.name,
  );
  const kindOptions: readonly string[] = RESOURCE_KINDS.includes(kind as (typeof RESOURCE_KINDS)[number])
    ? RESOURCE_KINDS
    : [...RESOURCE_KINDS, kind];
  return (
    <section class="panel" aria-labelledby="config-resources">
      <h2 id="config-resources">Resources</h2>
      <div class="toolbar">
        <div>
          <label for="config-kind">Kind</label>
          <select
            id="config-kind"
            value={kind}
            onChange={(e) => navigate(href(['config'], { kind: e.currentTarget.value }))}
          >
            {kindOptions.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </div>
        <p class="muted">
          {list.loading && list.data === undefined
            ? 'Loading…'
            : `${items.length} ${kind} ${items.length === 1 ? 'resource' : 'resources'}`}
        </p>
      </div>
      <ErrorNote error={list.error} />
      {items.length === 0 ? (
        !list.loading && list.error === undefined && <p class="muted">No {kind} resources.</p>
      ) : (
        <div class="grid-2 config-resources">
          <table>
            <thead>
              <tr>
                <th scope="col">Namespace</th>
                <th scope="col">Name</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => {
                const isSelected = r === selected;
                return (
                  <tr class={isSelected ? 'selected' : undefined}>
                    <td>{r.metadata.namespace}</td>
                    <td>
                      <a
                        href={resourceHref(kind, r.metadata.namespace, r.metadata.name)}
                        aria-current={isSelected ? 'true' : undefined}
                      >
                        {r.metadata.name}
                      </a>
                    </td>
                    <td>
                      <SourceLinks text={r.metadata.annotations?.[SOURCE_ANNOTATION]} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <div>
            {selected !== undefined ? (
              <>
                <h3 class="config-yaml-title">
                  {kind} {selected.metadata.namespace}/{selected.metadata.name}
                </h3>
                <pre
                  class="source"
                  tabIndex={0}
                  aria-label={`YAML of ${kind} ${selected.metadata.namespace}/${selected.metadata.name}`}
                >
                  {stringify(selected)}
                </pre>
              </>
            ) : props.name !== null ? (
              <p class="muted">
                No {kind} {props.namespace}/{props.name} is stored (deleted, or not applied yet).
              </p>
            ) : (
              <p class="muted">Pick a resource to see its YAML.</p>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
