// Reads resources from YAML (one or many `---` documents) or JSON, as `kubectl apply -f` would:
// a `kind: List` expands into its items. Every problem is reported with file:line:column of the
// file (not of the document), and nothing is returned unless every resource is valid.
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type Diagnostic } from '../errors.ts';
import {
  allKinds,
  API_VERSIONS,
  extraKind,
  isKind,
  RESOURCE_SCHEMAS,
  resolveKind,
  resourceKey,
  type AnyResource,
  type DialectResource,
  type ExtraKind,
  type TrafficRouteResource,
} from './kinds.ts';
import { validateRouteTables } from '../route/router.ts';
import { formatPath, keyPositionOf, positionOf, type PathSegment, type Position } from './positions.ts';

export { validateResourceSet, type ResourceWarning } from './validate.ts';

type Report = (path: readonly PathSegment[], message: string, pos?: Position) => void;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface ParseOptions {
  /** Namespace of resources that name none (`kubectl apply -n`); default "default". */
  defaultNamespace?: string;
  /** Receives warnings: unknown fields of other meshes' kinds, which are dropped (never silently). */
  warnings?: Diagnostic[];
}

export function parseResources(text: string, file: string, opts: ParseOptions = {}): AnyResource[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const diagnostics: Diagnostic[] = [];
  const resources: AnyResource[] = [];
  const seen = new Map<string, Position>();
  for (const doc of docs) {
    const report: Report = (path, message, pos = positionOf(doc, lines, path)) =>
      diagnostics.push({ file, ...pos, path: formatPath(path), message });
    const warn: Report = (path, message, pos = positionOf(doc, lines, path)) =>
      opts.warnings?.push({ file, ...pos, path: formatPath(path), message });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        // Offsets into the whole stream, so the shared LineCounter gives lines of the file.
        const pos = lines.linePos(e.pos[0]);
        report([], e.message.split('\n')[0] ?? e.code, { line: pos.line, column: pos.col });
      }
      continue;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      report([], err instanceof Error ? err.message : String(err));
      continue;
    }
    if (raw === null || raw === undefined) continue; // an empty document, e.g. after a trailing `---`
    for (const [value, base] of expandList(raw, report)) {
      const resource = parseOne(withNamespace(value, opts.defaultNamespace), base, report, warn, doc, lines);
      if (resource === undefined) continue;
      const key = resourceKey(resource);
      const namePath = [...base, 'metadata', 'name'];
      const first = seen.get(key);
      if (first !== undefined) {
        report(
          namePath,
          `duplicate resource ${key.slice('resources/'.length)} (first at line ${first.line})`,
        );
        continue;
      }
      seen.set(key, positionOf(doc, lines, namePath));
      resources.push(resource);
    }
  }
  if (diagnostics.length > 0) {
    // In file order, whatever order the schema checked things in.
    throw new ConfigError(diagnostics.sort((a, b) => a.line - b.line || a.column - b.column));
  }
  return resources;
}

/** A document is one resource, or a `kind: List` whose items are (kubectl's convention). */
function expandList(raw: unknown, report: Report): [unknown, PathSegment[]][] {
  if (!isRecord(raw) || raw['kind'] !== 'List') return [[raw, []]];
  if (raw['apiVersion'] !== 'v1') report(['apiVersion'], 'kind List is served as apiVersion "v1"');
  for (const key of Object.keys(raw)) {
    if (!['apiVersion', 'kind', 'metadata', 'items'].includes(key)) report([key], `unknown field "${key}"`);
  }
  const items = raw['items'];
  if (!Array.isArray(items)) {
    report(['items'], 'a List needs an array of items');
    return [];
  }
  return items.map((item, i): [unknown, PathSegment[]] => [item, ['items', i]]);
}

function withNamespace(value: unknown, namespace: string | undefined): unknown {
  if (namespace === undefined || !isRecord(value)) return value;
  const meta = value['metadata'];
  if (!isRecord(meta) || meta['namespace'] !== undefined) return value;
  return { ...value, metadata: { ...meta, namespace } };
}

function parseOne(
  value: unknown,
  base: PathSegment[],
  report: Report,
  warn: Report,
  doc: Document,
  lines: LineCounter,
): AnyResource | undefined {
  if (!isRecord(value)) {
    report(base, 'a resource is a mapping with apiVersion, kind, metadata and spec');
    return undefined;
  }
  const kind = value['kind'];
  if (typeof kind !== 'string') {
    report([...base, 'kind'], `missing kind (one of ${allKinds().join(', ')})`);
    return undefined;
  }
  const extra = extraKind(kind);
  if (extra !== undefined) return parseExtra(value, extra, base, report, warn, doc, lines);
  if (!isKind(kind)) {
    const alias = resolveKind(kind);
    const hint = alias ? `did you mean "${alias}"?` : `known kinds: ${allKinds().join(', ')}`;
    report([...base, 'kind'], `unknown kind "${kind}" (${hint})`);
    return undefined;
  }
  const want = API_VERSIONS[kind];
  const got = value['apiVersion'];
  if (got !== want) {
    const what = got === undefined ? 'missing apiVersion' : `unknown apiVersion ${JSON.stringify(got)}`;
    report([...base, 'apiVersion'], `${what} for kind ${kind} (use "${want}")`);
    return undefined;
  }
  const parsed = RESOURCE_SCHEMAS[kind].safeParse(value);
  if (parsed.success) {
    const problems = parsed.data.kind === 'TrafficRoute' ? routeProblems(parsed.data) : [];
    for (const p of problems) report([...base, ...p.path], p.message);
    return problems.length === 0 ? parsed.data : undefined;
  }
  for (const issue of parsed.error.issues) reportIssue(issue, base, report, doc, lines);
  return undefined;
}

/**
 * A kind of another mesh, read leniently as its own control plane would: an unknown field is a
 * warning at its key and is dropped (then the rest is checked again); anything else is an error.
 */
function parseExtra(
  value: Record<string, unknown>,
  extra: ExtraKind,
  base: PathSegment[],
  report: Report,
  warn: Report,
  doc: Document,
  lines: LineCounter,
): DialectResource | undefined {
  const got = value['apiVersion'];
  const schema = typeof got === 'string' ? extra.versions.get(got) : undefined;
  if (schema === undefined) {
    const what = got === undefined ? 'missing apiVersion' : `unknown apiVersion ${JSON.stringify(got)}`;
    const known = [...extra.versions.keys()].map((v) => `"${v}"`).join(', ');
    report([...base, 'apiVersion'], `${what} for kind ${extra.kind} (use one of ${known})`);
    return undefined;
  }
  let input: unknown = value;
  // Each round drops the unknown keys found; nested ones show up once their parents parse.
  for (let round = 0; round < 8; round++) {
    const parsed = schema.safeParse(input);
    if (parsed.success) return parsed.data;
    const unknown = parsed.error.issues.filter((i) => i.code === 'unrecognized_keys');
    if (unknown.length === 0) {
      for (const issue of parsed.error.issues) reportIssue(issue, base, report, doc, lines);
      return undefined;
    }
    input = structuredClone(input);
    for (const issue of unknown) {
      const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol');
      let at: unknown = input;
      for (const seg of path)
        at = isRecord(at) || Array.isArray(at) ? (at as Record<string, unknown>)[seg] : undefined;
      for (const key of issue.keys) {
        warn(
          [...base, ...path, key],
          `unknown field "${key}" ignored`,
          keyPositionOf(doc, lines, [...base, ...path], key),
        );
        if (isRecord(at)) delete at[key];
      }
    }
  }
  report(base, `too deeply nested unknown fields in ${extra.kind}`);
  return undefined;
}

/**
 * What the proxy's route compiler would reject (bad RE2 patterns, conflicting matchers), found at
 * apply time: stored, such a route would make every proxy that calls the service refuse its config.
 */
function routeProblems(r: TrafficRouteResource): { path: PathSegment[]; message: string }[] {
  const routes = r.spec.routes.map((rt) => ({
    ...rt,
    backends: rt.backends.map((b) => ({ cluster: 'check', weight: b.weight })),
    mirrors: undefined,
  }));
  const table = { name: 'check', virtualHosts: [{ name: 'check', domains: ['check.invalid'], routes }] };
  return validateRouteTables([table]).map((p) => {
    // ['routeTables', 0, 'virtualHosts', 0, 'routes', i, ...] → ['spec', 'routes', i, ...]
    const [, , , , , i, ...rest] = p.path;
    return { path: ['spec', 'routes', i ?? 0, ...rest], message: p.message };
  });
}

function reportIssue(
  issue: z.core.$ZodIssue,
  base: PathSegment[],
  report: Report,
  doc: Document,
  lines: LineCounter,
): void {
  const path = [...base, ...issue.path.filter((p): p is PathSegment => typeof p !== 'symbol')];
  if (issue.code === 'unrecognized_keys') {
    for (const key of issue.keys)
      report([...path, key], `unknown field "${key}"`, keyPositionOf(doc, lines, path, key));
    return;
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Every branch failed on the value's type: say which types would do.
    const types = issue.errors.map((b) =>
      b.length === 1 && b[0]?.code === 'invalid_type' ? b[0].expected : '',
    );
    if (types.every((t) => t !== '')) return report(path, `expected ${types.join(' or ')}`);
    // Otherwise the branch that got furthest into the value explains the problem best.
    const depth = (b: z.core.$ZodIssue[]): number => Math.max(...b.map((i) => i.path.length));
    const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    for (const inner of best) reportIssue(inner, path, report, doc, lines);
    return;
  }
  report(path, issue.message);
}
