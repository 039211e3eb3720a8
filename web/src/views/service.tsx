// One service (#/services/NS/NAME): its golden metrics now and over time, per route, its endpoints
// and versions with their traffic share, who calls it and whom it calls, and the routes and
// policies that apply with the resources they came from.
import { ErrorNote } from '../components/golden.tsx';
import { useApi } from '../hooks.ts';
import { useMesh } from '../mesh.tsx';
import type { ServiceDescription, WorkloadObject } from '../types.ts';
import { GoldenCharts, GoldenNow } from './service/golden.tsx';
import { RoutingPanel } from './service/routing.tsx';
import { EndpointsTable, RoutesTable } from './service/tables.tsx';
import { NeighboursPanel, VersionsPanel } from './service/traffic.tsx';
import { versionsOf } from './service/versions.ts';

export function ServiceView(props: { namespace: string; name: string }) {
  // A new service is a new page: nothing of the previous one's data may show while loading.
  return <ServicePage key={`${props.namespace}/${props.name}`} {...props} />;
}

/** `#/tap?target=service/NS/NAME`, what the tap view reads. */
function tapHref(namespace: string, name: string): string {
  return `#/tap?target=service/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

function ServicePage(props: { namespace: string; name: string }) {
  const { namespace, name } = props;
  const { event, role } = useMesh();
  const path = `/api/v1/services/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  const describe = useApi<ServiceDescription>(path, 15_000);
  const workloads = useApi<{ items: WorkloadObject[] }>(
    `/api/v1/resources/Workload?namespace=${encodeURIComponent(namespace)}`,
    15_000,
  );
  const d = describe.data;

  if (describe.error?.status === 404 && d === undefined)
    return (
      <section>
        <h1>{name}</h1>
        <p role="alert">
          The mesh knows no service <code>{name}</code> in namespace <code>{namespace}</code>: no Service
          resource and no workload registered under that name.
        </p>
        <p>
          <a href="#/">Back to the topology</a>
        </p>
      </section>
    );

  const live = event?.services.find((s) => s.namespace === namespace && s.name === name);
  const versions = d === undefined ? [] : versionsOf(d.endpoints, workloads.data?.items, name);
  return (
    <section>
      <h1>
        {name} <span class="muted title-ns">namespace {namespace}</span>
      </h1>
      <p class="service-summary">
        {d !== undefined && (
          <span class="muted">
            {d.source === 'Service' ? 'Service resource' : 'implied by its workloads'} · {d.protocol} · port
            {d.ports.length === 1 ? '' : 's'} {d.ports.join(', ') || '-'}
            {d.virtualIp !== undefined && ` · virtual IP ${d.virtualIp}`}
            {d.selector !== undefined &&
              ` · selects ${Object.entries(d.selector)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')}`}
          </span>
        )}{' '}
        <a href={tapHref(namespace, name)}>Tap this service</a>
        {role === 'reader' && <span class="muted"> (needs an admin token)</span>}
      </p>
      <ErrorNote error={describe.error} />
      {describe.loading && d === undefined && <p class="muted">Loading the service…</p>}

      <GoldenNow item={live} live={event !== undefined} window={event?.window} />
      <GoldenCharts namespace={namespace} name={name} />
      {d !== undefined && (
        <VersionsPanel
          namespace={namespace}
          name={name}
          versions={versions}
          event={event}
          workloadsError={workloads.error}
        />
      )}
      <RoutesTable namespace={namespace} name={name} />
      {d !== undefined && <EndpointsTable describe={d} />}
      <NeighboursPanel namespace={namespace} name={name} event={event} />
      {d !== undefined && <RoutingPanel describe={d} />}
    </section>
  );
}
