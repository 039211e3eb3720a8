// Config history (`trellis history`), newest first; the changes of the revision picked
// (`trellis diff PREV REV`: from the config right after the previous entry to right after this one);
// and, for admins, a rollback to any revision, confirmed first (`trellis rollback REV`).
import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, postJson } from '../../api.ts';
import { ErrorNote } from '../../components/golden.tsx';
import { relative } from '../../format.ts';
import { useApi } from '../../hooks.ts';
import { useMesh } from '../../mesh.tsx';
import type { HistorySummary, ResourceDiff, RollbackResponse } from '../../types.ts';
import { DiffList } from './diff.tsx';

const shortKey = (key: string): string => key.replace(/^resources\//, '');
const shortTime = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

interface Props {
  admin: boolean;
  /** The revision shown, from the address. */
  selected: number | undefined;
  /** The address of the view with `rev` set. */
  revisionHref: (rev: number) => string;
  onSelect: (rev: number) => void;
}

interface RollbackResult {
  to: number;
  entry: RollbackResponse['entry'];
}

export function HistoryPanel(props: Props) {
  const history = useApi<{ items: HistorySummary[] }>('/api/v1/history', 15_000);
  // A change to the config (here, the CLI, another tab) shows at once, not at the next refresh.
  const revision = useMesh().event?.revision;
  useEffect(() => {
    if (revision !== undefined) history.reload();
  }, [revision]);
  const oldestFirst = history.data?.items ?? [];
  const items = [...oldestFirst].reverse();
  const [confirming, setConfirming] = useState<number | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<RollbackResult | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => confirmButton.current?.focus(), [confirming]);

  const cancel = (rev: number): void => {
    setConfirming(undefined);
    document.querySelector<HTMLButtonElement>(`[data-testid="rollback-${rev}"]`)?.focus();
  };
  // The answer may come after the user went to another view: it must not pull them back.
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const rollback = (rev: number): void => {
    setBusy(true);
    setError(undefined);
    postJson<RollbackResponse>(`/api/v1/rollback?to=${rev}`).then(
      (r) => {
        if (!mounted.current) return;
        setBusy(false);
        setConfirming(undefined);
        setResult({ to: rev, entry: r.entry });
        history.reload();
        // Show what the rollback changed: its own entry's diff.
        if (r.entry !== null) props.onSelect(r.entry.revision);
      },
      (err: unknown) => {
        if (!mounted.current) return;
        setBusy(false);
        setError(err instanceof ApiError ? err : new ApiError('TRELLIS_CLIENT', 0, String(err)));
      },
    );
  };

  const index = oldestFirst.findIndex((e) => e.revision === props.selected);
  const selectedEntry = oldestFirst[index];
  // The previous entry's revision (0: before the first change kept).
  const from = index > 0 ? (oldestFirst[index - 1]?.revision ?? 0) : 0;

  return (
    <section class="panel" aria-labelledby="config-history">
      <h2 id="config-history">History</h2>
      <ErrorNote error={history.error} />
      <ErrorNote error={error} />
      {result !== undefined && <RollbackNote result={result} />}
      {history.data !== undefined && items.length === 0 && (
        <p class="muted">
          No changes recorded yet: applies, deletes and rollbacks through the API appear here.
        </p>
      )}
      {items.length > 0 && (
        <table class="history-table">
          <thead>
            <tr>
              <th scope="col" class="num">
                Revision
              </th>
              <th scope="col">Time</th>
              <th scope="col">Author</th>
              <th scope="col">Action</th>
              <th scope="col">Source</th>
              <th scope="col">Changes</th>
              {props.admin && <th scope="col">Rollback</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((e, i) => {
              const isSelected = e.revision === props.selected;
              return (
                <Fragment key={e.revision}>
                  <tr
                    data-testid={`history-row-${e.revision}`}
                    class={isSelected ? 'selected history-row' : 'history-row'}
                    onClick={() => props.onSelect(e.revision)}
                  >
                    <td class="num">
                      <a
                        href={props.revisionHref(e.revision)}
                        aria-current={isSelected ? 'true' : undefined}
                        aria-label={`revision ${e.revision}: show its changes`}
                        onClick={(ev) => ev.stopPropagation()}
                      >
                        {e.revision}
                      </a>
                      {i === 0 && <span class="badge">current</span>}
                    </td>
                    <td title={e.time}>
                      {shortTime(e.time)}
                      <br />
                      <span class="muted">{relative(e.time)}</span>
                    </td>
                    <td>{e.author}</td>
                    <td>{e.action}</td>
                    <td class="mono history-source">{e.source}</td>
                    <td>
                      <ul class="plain-list">
                        {e.changes.map((c) => (
                          <li>
                            <span class={`change change-${c.change}`}>{c.change}</span> {shortKey(c.key)}
                          </li>
                        ))}
                      </ul>
                    </td>
                    {props.admin && (
                      <td>
                        <button
                          type="button"
                          data-testid={`rollback-${e.revision}`}
                          aria-expanded={confirming === e.revision}
                          disabled={busy}
                          onClick={(ev) => {
                            ev.stopPropagation();
                            setConfirming(confirming === e.revision ? undefined : e.revision);
                          }}
                        >
                          Roll back to revision {e.revision}
                        </button>
                      </td>
                    )}
                  </tr>
                  {props.admin && confirming === e.revision && (
                    <tr class="rollback-confirm-row">
                      <td colSpan={7}>
                        <div
                          role="group"
                          aria-label={`Confirm rollback to revision ${e.revision}`}
                          class="rollback-confirm"
                          onKeyDown={(ev) => ev.key === 'Escape' && cancel(e.revision)}
                        >
                          <p>
                            Restore every resource to what it was right after revision {e.revision}
                            {i === 0 ? ' (the config in force: nothing should change)' : ''}? The rollback is
                            recorded as a new revision, and proxies get the restored config within seconds.
                          </p>
                          <button
                            type="button"
                            class="danger"
                            ref={confirmButton}
                            data-testid="rollback-confirm"
                            disabled={busy}
                            onClick={() => rollback(e.revision)}
                          >
                            {busy ? 'Rolling back…' : `Confirm rollback to revision ${e.revision}`}
                          </button>{' '}
                          <button type="button" disabled={busy} onClick={() => cancel(e.revision)}>
                            Cancel
                          </button>
                        </div>
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      )}
      {selectedEntry !== undefined && <RevisionDiff from={from} entry={selectedEntry} />}
      {props.selected !== undefined && history.data !== undefined && selectedEntry === undefined && (
        <p class="muted">Revision {props.selected} is not in the history.</p>
      )}
    </section>
  );
}

function RevisionDiff(props: { from: number; entry: HistorySummary }) {
  const to = props.entry.revision;
  const diff = useApi<{ diffs: ResourceDiff[] }>(`/api/v1/diff?from=${props.from}&to=${to}`);
  return (
    <div class="revision-diff" aria-live="polite">
      <h3>
        Changes of revision {to}{' '}
        <span class="muted">
          ({props.entry.action} of {props.entry.source} by {props.entry.author};{' '}
          {props.from === 0 ? 'from the start of the history' : `from revision ${props.from}`})
        </span>
      </h3>
      <ErrorNote error={diff.error} />
      {diff.loading && diff.data === undefined && <p class="muted">Loading…</p>}
      {diff.data !== undefined && <DiffList diffs={diff.data.diffs} />}
    </div>
  );
}

function RollbackNote(props: { result: RollbackResult }) {
  const { to, entry } = props.result;
  if (entry === null)
    return (
      <p class="note" role="status">
        The config was already as at revision {to}: nothing changed.
      </p>
    );
  return (
    <div class="note" role="status">
      <p>
        Rolled back to revision {to} (recorded as revision {entry.revision}):
      </p>
      <ul class="plain-list">
        {entry.changes.map((c) => (
          <li>
            {shortKey(c.key)}{' '}
            <strong>{c.before === null ? 'recreated' : c.after === null ? 'deleted' : 'restored'}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}
