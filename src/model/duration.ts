const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250ms", "1.5s", "2m", "1h" (as Istio and Gateway API write durations) into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = UNIT_MS[m[2]!];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}
