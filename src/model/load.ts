// Reads a proxy config (YAML or JSON) into the model. Every problem is reported with
// file:line:column; nothing half-valid is ever returned.
import { readFile } from 'node:fs/promises';
import type { Document, LineCounter } from 'yaml';
import { ConfigError, type Diagnostic } from '../errors.ts';
import { lazyModule } from '../lazy-module.ts';
import { ProxyConfig } from './schema.ts';
import { validateRouteTables } from '../route/router.ts';

type PathSegment = string | number;

/** The YAML parser, loaded for config files only: a sidecar's snapshots arrive parsed. */
const yaml = lazyModule<typeof import('yaml')>('yaml');

function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/** The deepest node of the document that exists along `path`, for positions. */
function positionOf(
  doc: Document,
  lines: LineCounter,
  path: readonly PathSegment[],
): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (yaml().isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

export function parseConfigText(text: string, file: string): ProxyConfig {
  const { LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        return {
          file,
          line: pos.line,
          column: pos.col,
          path: '',
          message: e.message.split('\n')[0] ?? e.code,
        };
      }),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = ProxyConfig.safeParse(raw);
  const diagnostics: Diagnostic[] = [];
  const at = (path: readonly PathSegment[], message: string): void => {
    diagnostics.push({ file, ...positionOf(doc, lines, path), path: formatPath(path), message });
  };
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol');
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`;
      at(path, message);
    }
    throw new ConfigError(diagnostics);
  }
  checkReferences(parsed.data, at);
  if (diagnostics.length > 0) throw new ConfigError(diagnostics);
  return parsed.data;
}

/** Cross-references the schema cannot see: names unique, references resolvable, ports distinct. */
function checkReferences(cfg: ProxyConfig, at: (path: PathSegment[], message: string) => void): void {
  const clusters = new Set<string>();
  cfg.clusters.forEach((c, i) => {
    if (clusters.has(c.name)) at(['clusters', i, 'name'], `duplicate cluster "${c.name}"`);
    clusters.add(c.name);
  });
  const tables = new Set<string>();
  cfg.routeTables.forEach((t, ti) => {
    if (tables.has(t.name)) at(['routeTables', ti, 'name'], `duplicate route table "${t.name}"`);
    tables.add(t.name);
    t.virtualHosts.forEach((vh, vi) =>
      vh.routes.forEach((r, ri) => {
        const refs = [
          ...r.backends.map((b, i) => ['backends', i, b.cluster] as const),
          ...(r.mirrors ?? []).map((m, i) => ['mirrors', i, m.cluster] as const),
        ];
        for (const [field, i, cluster] of refs) {
          if (!clusters.has(cluster)) {
            at(
              ['routeTables', ti, 'virtualHosts', vi, 'routes', ri, field, i, 'cluster'],
              `unknown cluster "${cluster}"`,
            );
          }
        }
      }),
    );
  });
  // Bad regexes, conflicting matchers, duplicate domains: what compiling the tables would reject.
  for (const problem of validateRouteTables(cfg.routeTables)) at(problem.path, problem.message);
  const names = new Set<string>();
  const binds = new Set<string>();
  cfg.listeners.forEach((l, i) => {
    if (names.has(l.name)) at(['listeners', i, 'name'], `duplicate listener "${l.name}"`);
    names.add(l.name);
    const bind = `${l.address}:${l.port}`;
    if (l.port !== 0 && binds.has(bind))
      at(['listeners', i, 'port'], `another listener already uses ${bind}`);
    binds.add(bind);
    if (l.protocol !== 'tcp' && !l.routeTable) {
      at(['listeners', i], `listener "${l.name}" speaks ${l.protocol} and needs a routeTable`);
    }
    if (l.routeTable && !tables.has(l.routeTable)) {
      at(['listeners', i, 'routeTable'], `unknown route table "${l.routeTable}"`);
    }
    if (l.protocol === 'tcp' && !l.tcpCluster) {
      at(['listeners', i], `listener "${l.name}" speaks tcp and needs a tcpCluster`);
    }
    if (l.tcpCluster && !clusters.has(l.tcpCluster)) {
      at(['listeners', i, 'tcpCluster'], `unknown cluster "${l.tcpCluster}"`);
    }
    if (l.mtls !== undefined && l.mtls.mode !== 'DISABLE' && !hasIdentity(cfg)) {
      at(
        ['listeners', i, 'mtls'],
        `listener "${l.name}" terminates mesh mTLS and needs secrets (certificate, key, trust bundle)`,
      );
    }
    if (l.mtls !== undefined && l.direction !== 'inbound') {
      at(['listeners', i, 'mtls'], `mesh mTLS is terminated on inbound listeners only`);
    }
    if (l.interception !== undefined && l.direction !== 'outbound') {
      at(['listeners', i, 'interception'], `interception is for outbound listeners only`);
    }
    l.interception?.destinations.forEach((d, di) => {
      if (d.tcpCluster !== undefined && !clusters.has(d.tcpCluster))
        at(
          ['listeners', i, 'interception', 'destinations', di, 'tcpCluster'],
          `unknown cluster "${d.tcpCluster}"`,
        );
    });
  });
  cfg.clusters.forEach((c, i) => {
    if (c.mtls !== undefined && !hasIdentity(cfg))
      at(
        ['clusters', i, 'mtls'],
        `cluster "${c.name}" originates mesh mTLS and needs secrets (certificate, key, trust bundle)`,
      );
    if (c.mtls !== undefined && c.tls !== undefined)
      at(['clusters', i, 'mtls'], `cluster "${c.name}" gives both tls and mtls; choose one`);
  });
}

function hasIdentity(cfg: ProxyConfig): boolean {
  const s = cfg.secrets;
  return (
    s !== undefined &&
    (s.certChain ?? s.certChainFile) !== undefined &&
    (s.privateKey ?? s.privateKeyFile) !== undefined &&
    (s.trustBundle ?? s.trustBundleFile) !== undefined
  );
}

/**
 * Validates a config that arrived as data (the control plane's push), not as a file: the same
 * checks, with diagnostics located by path only.
 */
export function validateConfig(raw: unknown, source: string): ProxyConfig {
  const diagnostics: Diagnostic[] = [];
  const at = (path: readonly PathSegment[], message: string): void => {
    diagnostics.push({ file: source, line: 0, column: 0, path: formatPath(path), message });
  };
  const parsed = ProxyConfig.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      at(
        issue.path.filter((p): p is PathSegment => typeof p !== 'symbol'),
        issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
      );
    }
    throw new ConfigError(diagnostics);
  }
  checkReferences(parsed.data, at);
  if (diagnostics.length > 0) throw new ConfigError(diagnostics);
  return parsed.data;
}

export async function loadConfigFile(file: string): Promise<ProxyConfig> {
  const text = await readFile(file, 'utf8');
  return parseConfigText(text, file);
}
