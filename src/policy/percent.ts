// Percentage sampling for faults and mirrors (Istio's Percent: 0-100, fractions allowed).

/** True for `percent` % of calls; 100 always, 0 never, without drawing a random number. */
export function sampled(percent: number): boolean {
  return percent >= 100 || (percent > 0 && Math.random() * 100 < percent);
}
