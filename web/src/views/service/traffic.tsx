// Who the service's traffic goes to and comes from: its versions with their share of the requests
// (live deployments' stats), and the services that call it or that it calls (live edges).
import { ErrorNote, GOLDEN_HEADERS, GoldenCells, MtlsBadge } from '../../components/golden.tsx';
import { ms, percent } from '../../format.ts';
import { href } from '../../router.ts';
import type { EdgeItem, MeshEvent } from '../../types.ts';
import { sharePercent } from './route-text.ts';
import { trafficOf, type VersionRef } from './versions.ts';

export function ShareBar(props: { share: number | null }) {
  const width = props.share === null ? 0 : Math.max(0, Math.min(1, props.share)) * 100;
  return (
    <span class="share-bar" aria-hidden="true">
      <span style={{ width: `${width}%` }} />
    </span>
  );
}

export function VersionsPanel(props: {
  namespace: string;
  name: string;
  versions: VersionRef[];
  event: MeshEvent | undefined;
  workloadsError: { code: string; message: string } | undefined;
}) {
  const rows = trafficOf(props.versions, props.namespace, props.event?.deployments);
  return (
    <section aria-labelledby="versions-h">
      <h2 id="versions-h">
        Versions{' '}
        <span class="muted">
          (share of the requests the versions served, last {props.event?.window ?? '1m'})
        </span>
      </h2>
      <ErrorNote error={props.workloadsError} />
      {rows.length === 0 ? (
        <p class="muted">No versions: the service has no endpoints.</p>
      ) : (
        <table>
          <caption class="visually-hidden">
            Traffic share and golden metrics per version of {props.name}
          </caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Deployment</th>
              <th scope="col">Share of requests</th>
              <th scope="col" class="num">
                Success
              </th>
              <th scope="col" class="num">
                P99
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.deployment}>
                <th scope="row">{r.version}</th>
                <td class="mono">{r.deployment}</td>
                <td>
                  <span class="share">
                    <ShareBar share={r.share} />
                    <span data-testid={`share-${props.name}-${r.version}`}>
                      {r.share === null ? '-' : sharePercent(r.share)}
                    </span>
                    <span class="muted"> ({r.stat?.stats?.rps.toFixed(2) ?? '0'} rps)</span>
                  </span>
                </td>
                <td class="num">{percent(r.stat?.stats?.successRate)}</td>
                <td class="num">{ms(r.stat?.stats?.latencyMs.p99)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function PeerLink(props: { peer: { namespace: string; name: string } }) {
  const p = props.peer;
  if (p.name === 'unknown') return <span class="muted">unknown (not meshed)</span>;
  return (
    <a href={href(['services', p.namespace, p.name])}>
      {p.name}
      <span class="muted">.{p.namespace}</span>
    </a>
  );
}

function EdgeTable(props: { title: string; edges: EdgeItem[]; peerOf: (e: EdgeItem) => EdgeItem['src'] }) {
  const id = `edges-${props.title.toLowerCase()}-h`;
  return (
    <div>
      <h3 id={id}>{props.title}</h3>
      {props.edges.length === 0 ? (
        <p class="muted">None in the last minute.</p>
      ) : (
        <table aria-labelledby={id}>
          <thead>
            <tr>
              <th scope="col">Service</th>
              {GOLDEN_HEADERS.map((h) => (
                <th scope="col" class="num" key={h}>
                  {h}
                </th>
              ))}
              <th scope="col">mTLS</th>
            </tr>
          </thead>
          <tbody>
            {props.edges.map((e) => {
              const peer = props.peerOf(e);
              return (
                <tr key={`${peer.namespace}/${peer.name}/${e.side}`}>
                  <th scope="row">
                    <PeerLink peer={peer} />
                  </th>
                  <GoldenCells golden={e.stats} />
                  <td>
                    <MtlsBadge secured={e.secured} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function NeighboursPanel(props: { namespace: string; name: string; event: MeshEvent | undefined }) {
  const self = (r: { namespace: string; name: string }): boolean =>
    r.namespace === props.namespace && r.name === props.name;
  const edges = props.event?.edges ?? [];
  const callers = edges.filter((e) => self(e.dst) && !self(e.src));
  const callees = edges.filter((e) => self(e.src) && !self(e.dst));
  return (
    <section aria-labelledby="neighbours-h">
      <h2 id="neighbours-h">Callers and callees</h2>
      {props.event === undefined ? (
        <p class="muted">Waiting for live data…</p>
      ) : (
        <div class="grid-2">
          <EdgeTable title="Callers" edges={callers} peerOf={(e) => e.src} />
          <EdgeTable title="Callees" edges={callees} peerOf={(e) => e.dst} />
        </div>
      )}
    </section>
  );
}
