// Config history: every change made through the API (apply, delete, rollback) is kept as an entry
// with its author, time and the before/after of each resource it touched. Entries are keyed by the
// store revision of their first write, so `REV` in `trellis diff REV` and `trellis rollback REV`
// is a number the user can also see in proxy-status versions. Registrations of workloads by
// sidecars are not config and are not recorded.
import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import type { Store } from '../store/types.ts';
import { NotFoundError } from './errors.ts';

export const HISTORY_PREFIX = 'history/';
/** Entries kept; older ones are dropped (a rollback can go back this far). */
export const HISTORY_LIMIT = 1000;

export interface Change {
  key: string;
  before: unknown;
  after: unknown;
}

export interface HistoryEntry {
  revision: number;
  /** Store revision of the entry's last resource write (what a reader must have seen to see it all). */
  lastRevision: number;
  time: string;
  author: string;
  action: 'apply' | 'delete' | 'rollback';
  /** The file applied, or the revision rolled back to. */
  source: string;
  changes: Change[];
}

const historyKey = (revision: number): string => `${HISTORY_PREFIX}${String(revision).padStart(12, '0')}`;

function isEntry(v: unknown): v is HistoryEntry {
  return typeof v === 'object' && v !== null && typeof (v as HistoryEntry).revision === 'number';
}

/**
 * Writes `changes` (key → after; null deletes) and records them as one entry. Returns the entry,
 * or undefined when nothing changed.
 */
export async function writeRecorded(
  store: Store,
  meta: Pick<HistoryEntry, 'author' | 'action' | 'source'>,
  writes: { key: string; after: unknown }[],
): Promise<HistoryEntry | undefined> {
  const changes: Change[] = [];
  let first = 0;
  let last = 0;
  for (const w of writes) {
    const before = (await store.get(w.key))?.value ?? null;
    if (JSON.stringify(before) === JSON.stringify(w.after)) continue;
    let rev: number;
    if (w.after === null) {
      if (!(await store.delete(w.key))) continue;
      rev = await currentRevision(store);
    } else rev = await store.put(w.key, w.after);
    first ||= rev;
    last = Math.max(last, rev);
    changes.push({ key: w.key, before, after: w.after });
  }
  if (changes.length === 0) return undefined;
  const entry: HistoryEntry = {
    revision: first || last,
    lastRevision: last,
    time: new Date().toISOString(),
    ...meta,
    changes,
  };
  await store.put(historyKey(entry.revision), entry);
  await trim(store);
  return entry;
}

/** The store's revision now (a list of a prefix no key has is the cheap way to read it). */
export async function currentRevision(store: Store): Promise<number> {
  return (await store.list('\u0000revision/')).revision;
}

async function trim(store: Store): Promise<void> {
  const { entries } = await store.list(HISTORY_PREFIX);
  for (const e of entries.slice(0, Math.max(0, entries.length - HISTORY_LIMIT))) await store.delete(e.key);
}

export async function listHistory(store: Store): Promise<HistoryEntry[]> {
  const { entries } = await store.list(HISTORY_PREFIX);
  return entries.map((e) => e.value).filter(isEntry);
}

/**
 * The value of every key touched after `revision`, as it was right after the entry `revision`
 * (undefined when it did not exist then). Keys untouched since are not in the map: they are as now.
 */
function valuesAt(history: HistoryEntry[], revision: number): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const later = history.filter((e) => e.revision > revision).sort((a, b) => b.revision - a.revision);
  for (const e of later) for (const c of e.changes) out.set(c.key, c.before);
  return out;
}

function requireEntry(history: HistoryEntry[], revision: number): void {
  if (revision !== 0 && !history.some((e) => e.revision === revision)) {
    throw NotFoundError(`revision ${revision} in the history (see trellis history)`);
  }
}

/** Restores every resource to what it was right after entry `revision`, as one new entry. */
export async function rollback(
  store: Store,
  revision: number,
  author: string,
): Promise<HistoryEntry | undefined> {
  const history = await listHistory(store);
  requireEntry(history, revision);
  const writes = [...valuesAt(history, revision)].map(([key, after]) => ({ key, after: after ?? null }));
  return writeRecorded(store, { author, action: 'rollback', source: `revision ${revision}` }, writes);
}

export interface ResourceDiff {
  key: string;
  patch: string;
}

/** What changed from revision `from` to revision `to` (default: now), as unified diffs of YAML. */
export async function diffRevisions(store: Store, from: number, to?: number): Promise<ResourceDiff[]> {
  const history = await listHistory(store);
  requireEntry(history, from);
  if (to !== undefined) requireEntry(history, to);
  const start = valuesAt(history, from);
  const end = to === undefined ? undefined : valuesAt(history, to);
  const keys = new Set([...start.keys(), ...(end?.keys() ?? [])]);
  const out: ResourceDiff[] = [];
  for (const key of [...keys].sort()) {
    const a = start.has(key) ? start.get(key) : (await store.get(key))?.value;
    const b = end?.has(key) === true ? end.get(key) : (await store.get(key))?.value;
    const left = a === undefined || a === null ? '' : stringify(a);
    const right = b === undefined || b === null ? '' : stringify(b);
    if (left === right) continue;
    const name = key.replace(/^resources\//, '');
    out.push({ key, patch: createTwoFilesPatch(`${name}@${from}`, `${name}@${to ?? 'now'}`, left, right) });
  }
  return out;
}
