// Golden-metric cells and badges shared by the tables of every view.
import { healthOf, ms, percent, rps, type Health } from '../format.ts';
import type { Golden } from '../types.ts';

const HEALTH_LABEL: Record<Health, string> = {
  good: 'healthy',
  warn: 'degraded',
  bad: 'failing',
  idle: 'no traffic',
};

/** A dot plus a word: health is never told by colour alone. */
export function HealthBadge(props: { golden: Golden | null | undefined }) {
  const h = healthOf(props.golden);
  return (
    <span class={`health health-${h}`}>
      <span class="dot" aria-hidden="true" />
      {HEALTH_LABEL[h]}
    </span>
  );
}

export function GoldenCells(props: { golden: Golden | null | undefined }) {
  const g = props.golden;
  return (
    <>
      <td class={`num health-text-${healthOf(g)}`}>{percent(g?.successRate)}</td>
      <td class="num">{rps(g?.rps)}</td>
      <td class="num">{ms(g?.latencyMs.p50)}</td>
      <td class="num">{ms(g?.latencyMs.p99)}</td>
    </>
  );
}

export const GOLDEN_HEADERS = ['Success', 'RPS', 'P50', 'P99'];

export function MtlsBadge(props: { secured: boolean | null }) {
  if (props.secured === null) return <span class="muted">-</span>;
  return props.secured ? (
    <span class="badge badge-good" title="every request of this edge went over mutual TLS">
      mTLS
    </span>
  ) : (
    <span class="badge badge-bad" title="some requests of this edge were plaintext">
      plaintext
    </span>
  );
}

export function ErrorNote(props: { error: { code: string; message: string } | undefined }) {
  if (props.error === undefined) return null;
  return (
    <p class="error" role="alert">
      <code>{props.error.code}</code> {props.error.message}
    </p>
  );
}
