// How `trellis tap` prints events (Linkerd's `viz tap` lines) and how `trellis top` adds them up.
// Pure functions of the lines read, so they are tested without a control plane.
import type { TapBody, TapEventLine, TapHeaders, TapParty } from '../tap/event.ts';

type ReqLine = Extract<TapEventLine, { type: 'req' }>;
type EndLine = Extract<TapEventLine, { type: 'end' }>;

/** Requests remembered between their `req` and `end` lines; the oldest are forgotten past this. */
const MAX_OPEN = 10_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_OPEN) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/** 850µs, 12ms, 1.5s: Linkerd's units. */
export function formatLatency(us: number): string {
  if (us < 1000) return `${us}µs`;
  if (us < 10_000) return `${(us / 1000).toFixed(1)}ms`;
  if (us < 1_000_000) return `${Math.round(us / 1000)}ms`;
  return `${(us / 1_000_000).toFixed(1)}s`;
}

function addressOf(p: TapParty): string | undefined {
  if (p.address === undefined) return undefined;
  const host = p.address.includes(':') ? `[${p.address}]` : p.address;
  return p.port === undefined ? host : `${host}:${p.port}`;
}

function party(prefix: 'src' | 'dst', p: TapParty, wide: boolean): string[] {
  const out: string[] = [];
  out.push(`${prefix}=${addressOf(p) ?? p.service ?? '-'}`);
  if (wide) {
    if (p.workload !== undefined) out.push(`${prefix}_workload=${p.workload}`);
    if (p.namespace !== undefined) out.push(`${prefix}_ns=${p.namespace}`);
    if (p.service !== undefined && addressOf(p) !== undefined) out.push(`${prefix}_svc=${p.service}`);
  }
  if (p.identity !== undefined) out.push(`${prefix}_id=${p.identity}`);
  return out;
}

function headerLines(headers: TapHeaders | undefined): string[] {
  return (headers ?? []).map(([k, v]) => `    ${k}: ${v}`);
}

function isControl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c < 0x20 && ch !== '\t' && ch !== '\n' && ch !== '\r') || c === 0x7f;
}

/** A body prefix as text when it is printable UTF-8, else base64. */
export function bodyText(body: TapBody): string {
  const bytes = Buffer.from(body.base64, 'base64');
  let text: string;
  try {
    // `stream`: a character cut in two at the end of the prefix is left out, not an error.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
  } catch {
    return `base64:${body.base64}`;
  }
  // Printable: no control characters but tab and newlines.
  return [...text].some(isControl) ? `base64:${body.base64}` : JSON.stringify(text);
}

function bodyLine(name: string, body: TapBody | undefined): string[] {
  if (body === undefined) return [];
  const n = Buffer.from(body.base64, 'base64').length;
  return [`    ${name} (${n}B${body.truncated ? ', truncated' : ''}): ${bodyText(body)}`];
}

/** Prints tap events as lines: `req`, `rsp` and `end` of each request, with the request's ends. */
export class TapPrinter {
  private readonly wide: boolean;
  /** `proxy=… src=… dst=… tls=…` of each request in flight, for its rsp and end lines. */
  private readonly prefixes = new Map<string, string>();

  constructor(wide = false) {
    this.wide = wide;
  }

  format(line: TapEventLine): string {
    if (line.type === 'req') {
      const prefix = [
        `proxy=${line.direction === 'inbound' ? 'in ' : 'out'}`,
        ...party('src', line.source, this.wide),
        ...party('dst', line.destination, this.wide),
        `tls=${line.tls}`,
        ...(this.wide ? [`pod=${line.proxy.name}`] : []),
      ].join(' ');
      remember(this.prefixes, line.id, prefix);
      const fields = [
        `req id=${line.id}`,
        prefix,
        `:method=${line.method}`,
        `:authority=${line.authority}`,
        `:path=${line.path}`,
        ...(this.wide && line.route !== undefined ? [`route=${line.route}`] : []),
      ];
      return [fields.join(' '), ...headerLines(line.headers)].join('\n');
    }
    const prefix = this.prefixes.get(line.id) ?? `proxy=? pod=${line.proxy.name}`;
    if (line.type === 'rsp') {
      return [
        `rsp id=${line.id} ${prefix} :status=${line.status} latency=${line.latencyUs}µs`,
        ...headerLines(line.headers),
      ].join('\n');
    }
    this.prefixes.delete(line.id);
    const fields = [
      `end id=${line.id}`,
      prefix,
      ...(line.grpcStatus !== undefined ? [`grpc-status=${line.grpcStatus}`] : []),
      ...(line.error !== undefined ? [`:status=${line.status} error=${line.error}`] : []),
      `duration=${line.durationUs}µs`,
      `request-length=${line.requestBytes}B`,
      `response-length=${line.responseBytes}B`,
    ];
    return [
      fields.join(' '),
      ...bodyLine('request-body', line.requestBody),
      ...bodyLine('response-body', line.responseBody),
      ...headerLines(line.trailers),
    ].join('\n');
  }
}

export interface TopRow {
  source: string;
  destination: string;
  method: string;
  path: string;
  count: number;
  bestUs: number;
  worstUs: number;
  lastUs: number;
  /** Share of requests that succeeded (no proxy error, status below 500, gRPC OK), 0..1. */
  successRate: number;
  successes: number;
}

function sourceName(p: TapParty): string {
  return p.workload ?? p.identity ?? p.address ?? '-';
}

function destinationName(p: TapParty): string {
  return p.workload ?? p.service ?? addressOf(p) ?? '-';
}

function pathOnly(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/** Linkerd's `top`: requests by (source, destination, method, path), from their `end`. */
export class TopTable {
  private readonly open = new Map<string, ReqLine>();
  private readonly rows = new Map<string, TopRow>();
  requests = 0;

  add(line: TapEventLine): void {
    if (line.type === 'req') remember(this.open, line.id, line);
    else if (line.type === 'end') this.end(line);
  }

  private end(line: EndLine): void {
    const req = this.open.get(line.id);
    if (req === undefined) return;
    this.open.delete(line.id);
    this.requests++;
    const source = sourceName(req.source);
    const destination = destinationName(req.destination);
    const path = pathOnly(req.path);
    const key = JSON.stringify([source, destination, req.method, path]);
    let row = this.rows.get(key);
    if (row === undefined) {
      row = {
        source,
        destination,
        method: req.method,
        path,
        count: 0,
        bestUs: line.durationUs,
        worstUs: line.durationUs,
        lastUs: line.durationUs,
        successRate: 0,
        successes: 0,
      };
      this.rows.set(key, row);
    }
    row.count++;
    row.bestUs = Math.min(row.bestUs, line.durationUs);
    row.worstUs = Math.max(row.worstUs, line.durationUs);
    row.lastUs = line.durationUs;
    const ok = line.error === undefined && line.status < 500 && (line.grpcStatus ?? 0) === 0;
    if (ok) row.successes++;
    row.successRate = row.successes / row.count;
  }

  /** Most requests first. */
  sorted(): TopRow[] {
    return [...this.rows.values()].sort(
      (a, b) => b.count - a.count || a.path.localeCompare(b.path) || a.source.localeCompare(b.source),
    );
  }
}
