// The routes and policies that apply to a service, as describe reports them: the winning
// TrafficRoute (rules: matches → weighted backends, timeout, retries, other policies), the
// TrafficPolicy, security policies and routes elsewhere that send here; each with its source.
import { Fragment } from 'preact';
import { href } from '../../router.ts';
import type { ServiceDescription, ServiceRouteView, TrafficPolicyObject } from '../../types.ts';
import {
  backendShares,
  duration,
  matchesText,
  readable,
  sharePercent,
  retriesText,
  ROUTE_FIELDS_SHOWN,
  type SourceRef,
} from './route-text.ts';
import { SourceOf, SourceYaml } from './source.tsx';

/** `name`, `name.ns` or `name.ns.svc…` → the service's page. */
function serviceLink(ref: string, namespace: string) {
  const [name = ref, ns = namespace] = ref.split('.');
  return <a href={href(['services', ns, name])}>{ref}</a>;
}

function RouteRule(props: { rule: ServiceRouteView; index: number; namespace: string }) {
  const r = props.rule;
  const retries = retriesText(r.retries);
  const others = Object.entries(r).filter(([k, v]) => !ROUTE_FIELDS_SHOWN.has(k) && v !== undefined);
  return (
    <li class="route-rule">
      <strong>{r.name ?? `rule ${props.index + 1}`}</strong>
      <dl class="kv">
        <dt>When</dt>
        <dd>{matchesText(r.match)}</dd>
        <dt>To</dt>
        <dd>
          {r.backends.length === 0
            ? 'no backend (answered by the route)'
            : backendShares(r).map((b, i) => (
                <span key={b.service}>
                  {i > 0 && ', '}
                  {serviceLink(b.service, props.namespace)}{' '}
                  {r.backends.length > 1 && (
                    <span class="muted">
                      {sharePercent(b.share)} (weight {b.weight})
                    </span>
                  )}
                </span>
              ))}
        </dd>
        {r.timeout !== undefined && (
          <>
            <dt>Timeout</dt>
            <dd>{duration(r.timeout)}</dd>
          </>
        )}
        {retries !== undefined && (
          <>
            <dt>Retries</dt>
            <dd>{retries}</dd>
          </>
        )}
        {others.map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd>
              <code>{readable(v, k)}</code>
            </dd>
          </Fragment>
        ))}
      </dl>
    </li>
  );
}

function RouteCard(props: { route: NonNullable<ServiceDescription['route']>; namespace: string }) {
  const r = props.route;
  return (
    <div class="panel svc-panel">
      <h3>
        Route: TrafficRoute {r.metadata.namespace}/{r.metadata.name}
      </h3>
      <p class="muted">Rules in order; the first whose match fits a request routes it.</p>
      <ol class="route-rules">
        {r.spec.routes.map((rule, i) => (
          <RouteRule key={rule.name ?? i} rule={rule} index={i} namespace={props.namespace} />
        ))}
      </ol>
      <SourceOf resource={r} />
    </div>
  );
}

function PolicyCard(props: { policy: TrafficPolicyObject }) {
  const p = props.policy;
  const settings = Object.entries(p.spec).filter(([k, v]) => k !== 'service' && v !== undefined);
  return (
    <div class="panel svc-panel">
      <h3>
        Policy: TrafficPolicy {p.metadata.namespace}/{p.metadata.name}
      </h3>
      {settings.length === 0 ? (
        <p class="muted">No settings: the defaults apply.</p>
      ) : (
        <dl class="kv">
          {settings.map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd>
                <code>{readable(v, k)}</code>
              </dd>
            </Fragment>
          ))}
        </dl>
      )}
      <SourceOf resource={p} />
    </div>
  );
}

/** `Kind/namespace/name`, as describe names security resources. */
function parseRef(ref: string): SourceRef | undefined {
  const [kind, namespace, name, ...rest] = ref.split('/');
  return kind && namespace && name && rest.length === 0 ? { kind, namespace, name } : undefined;
}

function SecurityPolicies(props: { refs: string[] | undefined }) {
  if (props.refs === undefined) return <p class="muted">This control plane does not report them.</p>;
  if (props.refs.length === 0)
    return <p class="muted">None: the mesh defaults apply (mTLS as configured, every caller allowed).</p>;
  return (
    <ul class="plain-list">
      {props.refs.map((ref) => {
        const r = parseRef(ref);
        return (
          <li key={ref}>
            {r === undefined ? (
              <code>{ref}</code>
            ) : (
              <SourceYaml source={r} label={`${r.kind} ${r.namespace}/${r.name}`} />
            )}
          </li>
        );
      })}
    </ul>
  );
}

export function RoutingPanel(props: { describe: ServiceDescription }) {
  const d = props.describe;
  return (
    <section aria-labelledby="routing-h">
      <h2 id="routing-h">Routes and policies</h2>
      {d.route !== undefined ? (
        <RouteCard route={d.route} namespace={d.namespace} />
      ) : (
        <p class="muted">No route: requests go to every endpoint of {d.name}.</p>
      )}
      {d.ignoredRoutes.length > 0 && (
        <p class="muted">
          Also for this service but not in force (another route wins): {d.ignoredRoutes.join(', ')}
        </p>
      )}
      {d.policy !== undefined ? (
        <PolicyCard policy={d.policy} />
      ) : (
        <p class="muted">No traffic policy: default load balancing, limits and outlier detection.</p>
      )}
      {d.ignoredPolicies.length > 0 && (
        <p class="muted">Policies not in force (another one wins): {d.ignoredPolicies.join(', ')}</p>
      )}
      <h3>Security policies</h3>
      <SecurityPolicies refs={d.securityPolicies} />
      <h3>Routes that send traffic here</h3>
      {d.referencedBy.length === 0 ? (
        <p class="muted">None: no other service's route names {d.name} as a backend.</p>
      ) : (
        <ul>
          {d.referencedBy.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
    </section>
  );
}
