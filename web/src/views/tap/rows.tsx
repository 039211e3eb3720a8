// The tap's table: one row per request, newest first; a click (or Enter on its toggle) opens the
// request's details — parties, identities, route, headers, trailers and body prefixes if captured.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { bytes } from '../../format.ts';
import type { TapCapturedBody, TapHeaders } from '../../types.ts';
import type { ReqLine, TapRow } from './stream.ts';

type Party = ReqLine['source'];

/** 850µs, 12ms, 1.5s: the units `trellis tap` prints. */
export function latency(us: number | undefined): string {
  if (us === undefined) return '-';
  if (us < 1000) return `${us}µs`;
  if (us < 10_000) return `${(us / 1000).toFixed(1)}ms`;
  if (us < 1_000_000) return `${Math.round(us / 1000)}ms`;
  return `${(us / 1_000_000).toFixed(1)}s`;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function address(p: Party): string | undefined {
  if (p.address === undefined) return undefined;
  const host = p.address.includes(':') ? `[${p.address}]` : p.address;
  return p.port === undefined ? host : `${host}:${p.port}`;
}
const sourceName = (p: Party): string => p.workload ?? p.identity ?? address(p) ?? '-';
const destinationName = (p: Party): string => p.workload ?? p.service ?? address(p) ?? '-';

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many',
  499: 'Client Left',
  500: 'Server Error',
  502: 'Bad Gateway',
  503: 'Unavailable',
  504: 'Timeout',
};

/** The status the client saw (end), else the response head's; a word beside the colour. */
function StatusCell(props: { row: TapRow }) {
  const { rsp, end } = props.row;
  const status = end?.status ?? rsp?.status;
  if (status === undefined) return <span class="muted">pending</span>;
  const tone = end?.error !== undefined || status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'good';
  return (
    <span class={`badge badge-${tone}`} title={end?.error}>
      {status} {REASONS[status] ?? (tone === 'good' ? 'OK' : 'Error')}
    </span>
  );
}

function GrpcCell(props: { row: TapRow }) {
  const g = props.row.end?.grpcStatus;
  if (g === undefined) return <span class="muted">{props.row.req.grpc ? '…' : '-'}</span>;
  return (
    <span class={g === 0 ? 'health-text-good' : 'health-text-bad'}>{g === 0 ? '0 OK' : `${g} error`}</span>
  );
}

export function rowText(r: TapRow): string {
  const q = r.req;
  return [
    q.method,
    q.authority,
    q.path,
    q.direction,
    sourceName(q.source),
    destinationName(q.destination),
    q.source.identity ?? '',
    String(r.end?.status ?? r.rsp?.status ?? ''),
    r.end?.error ?? '',
    q.proxy.name,
  ]
    .join(' ')
    .toLowerCase();
}

export function TapTable(props: { rows: TapRow[] }) {
  const [open, setOpen] = useState<string | undefined>(undefined);
  const toggle = (id: string): void => setOpen((o) => (o === id ? undefined : id));
  return (
    <table class="tap-table">
      <caption class="visually-hidden">Live requests, newest first</caption>
      <thead>
        <tr>
          <th scope="col">
            <span class="visually-hidden">Details</span>
          </th>
          <th scope="col">Time</th>
          <th scope="col">Direction</th>
          <th scope="col">Source → destination</th>
          <th scope="col">Method</th>
          <th scope="col">Authority and path</th>
          <th scope="col">Status</th>
          <th scope="col">gRPC</th>
          <th scope="col" class="num">
            Latency
          </th>
          <th scope="col" class="num">
            Request / response bytes
          </th>
          <th scope="col">mTLS</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => {
          const q = r.req;
          const expanded = open === r.id;
          return (
            <Fragment key={r.id}>
              <tr
                data-testid="tap-row"
                class={expanded ? 'selected tap-row' : 'tap-row'}
                onClick={() => toggle(r.id)}
              >
                <td>
                  <button
                    type="button"
                    class="tap-toggle"
                    aria-expanded={expanded}
                    aria-label={`details of ${q.method} ${q.path}`}
                    onClick={(e) => (e.stopPropagation(), toggle(r.id))}
                  >
                    {expanded ? '▾' : '▸'}
                  </button>
                </td>
                <td class="mono">{clock(q.time)}</td>
                <td>{q.direction === 'inbound' ? 'in' : 'out'}</td>
                <td>
                  {sourceName(q.source)} → {destinationName(q.destination)}
                </td>
                <td class="mono">{q.method}</td>
                <td class="mono tap-path">
                  <span class="muted">{q.authority}</span>
                  {q.path}
                </td>
                <td>
                  <StatusCell row={r} />
                </td>
                <td>
                  <GrpcCell row={r} />
                </td>
                <td class="num">{latency(r.end?.durationUs ?? r.rsp?.latencyUs)}</td>
                <td class="num">
                  {r.end === undefined ? '-' : `${bytes(r.end.requestBytes)} / ${bytes(r.end.responseBytes)}`}
                </td>
                <td>
                  {q.tls ? (
                    <span class="badge badge-good">mTLS</span>
                  ) : (
                    <span class="badge badge-warn">plaintext</span>
                  )}
                </td>
              </tr>
              {expanded && (
                <tr class="tap-details">
                  <td colSpan={11}>
                    <TapDetails row={r} />
                  </td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}

function PartyText(props: { party: Party }) {
  const p = props.party;
  const parts = [
    address(p),
    p.workload !== undefined ? `workload ${p.workload}` : undefined,
    p.namespace !== undefined ? `namespace ${p.namespace}` : undefined,
    p.service !== undefined ? `service ${p.service}` : undefined,
  ].filter((s) => s !== undefined);
  return (
    <>
      {parts.join(' · ') || '-'}
      {p.identity !== undefined && (
        <>
          <br />
          <code>{p.identity}</code>
        </>
      )}
    </>
  );
}

function Headers(props: { title: string; headers: TapHeaders | undefined }) {
  if (props.headers === undefined || props.headers.length === 0) return null;
  return (
    <>
      <dt>{props.title}</dt>
      <dd>
        <pre class="tap-headers">{props.headers.map(([k, v]) => `${k}: ${v}`).join('\n')}</pre>
      </dd>
    </>
  );
}

/** A body prefix as text when it is printable UTF-8, else its base64. */
function bodyText(body: TapCapturedBody): string {
  try {
    const raw = Uint8Array.from(atob(body.base64), (c) => c.charCodeAt(0));
    const text = new TextDecoder('utf-8', { fatal: true }).decode(raw, { stream: true });
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return text;
  } catch {
    // not UTF-8
  }
  return `base64:${body.base64}`;
}

function Body(props: { title: string; body: TapCapturedBody | undefined }) {
  if (props.body === undefined) return null;
  return (
    <>
      <dt>
        {props.title}
        {props.body.truncated ? ' (truncated)' : ''}
      </dt>
      <dd>
        <pre class="tap-headers">{bodyText(props.body)}</pre>
      </dd>
    </>
  );
}

function TapDetails(props: { row: TapRow }) {
  const { req, rsp, end } = props.row;
  return (
    <dl class="tap-dl">
      <dt>Request</dt>
      <dd>
        <code>
          {req.method} {req.scheme}://{req.authority}
          {req.path}
        </code>{' '}
        ({req.protocol}
        {req.grpc ? ', gRPC' : ''}
        {req.route !== undefined ? `, route ${req.route}` : ''})
      </dd>
      <dt>Proxy</dt>
      <dd>
        {req.proxy.namespace}/{req.proxy.name}, {req.direction}, id {req.id}
      </dd>
      <dt>Source</dt>
      <dd>
        <PartyText party={req.source} />
      </dd>
      <dt>Destination</dt>
      <dd>
        <PartyText party={req.destination} />
      </dd>
      <dt>Timing</dt>
      <dd>
        response head after {latency(rsp?.latencyUs)}, over after {latency(end?.durationUs)}
      </dd>
      {end?.error !== undefined && (
        <>
          <dt>Proxy error</dt>
          <dd>
            <code>{end.error}</code>
          </dd>
        </>
      )}
      <Headers title="Request headers" headers={req.headers} />
      <Headers title="Response headers" headers={rsp?.headers} />
      <Headers title="Trailers" headers={end?.trailers} />
      <Body title="Request body" body={end?.requestBody} />
      <Body title="Response body" body={end?.responseBody} />
      {req.headers === undefined && (
        <>
          <dt>Headers</dt>
          <dd class="muted">not captured (tick “Capture headers” before starting)</dd>
        </>
      )}
    </dl>
  );
}
