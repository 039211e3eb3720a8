// Builders for the stats tests: label sets as the proxies make them, and report entries.
import type { TestContext } from 'node:test';
import { registration, startTestControlPlane, StreamClient, type TestControlPlane } from '../testing.ts';
import { LATENCY_SLOTS, type RequestStatsEntry, type TcpStatsEntry } from './message.ts';

export const WEB_ID = 'spiffe://cluster.local/ns/default/sa/web';
export const REVIEWS_ID = 'spiffe://cluster.local/ns/default/sa/reviews';

/** Labels of a request cell: web-v1 calling reviews-v1, as `reporter` saw it. */
export function edgeLabels(
  reporter: 'source' | 'destination',
  over: Record<string, string> = {},
): Record<string, string> {
  return {
    reporter,
    source_workload: 'web-v1',
    source_namespace: 'default',
    source_version: 'v1',
    source_principal: WEB_ID,
    destination_service: 'reviews.default',
    destination_namespace: 'default',
    destination_workload: 'reviews-v1',
    destination_version: 'v1',
    destination_principal: REVIEWS_ID,
    route: reporter === 'destination' ? 'inbound' : 'default',
    response_code: '200',
    grpc_status: '',
    mtls: 'true',
    ...over,
  };
}

/** A request entry: `perSlot` observations per latency slot (count and sum follow from them). */
export function requestEntry(
  id: number,
  perSlot: Record<number, number>,
  labels?: Record<string, string>,
): RequestStatsEntry {
  const latency = new Array<number>(LATENCY_SLOTS).fill(0);
  let count = 0;
  for (const [slot, n] of Object.entries(perSlot)) {
    latency[Number(slot)] = n;
    count += n;
  }
  return { id, ...(labels !== undefined ? { labels } : {}), count, latencySumMs: count, latency };
}

export function tcpEntry(
  id: number,
  v: { opened: number; closed: number; receivedBytes: number; sentBytes: number },
  labels?: Record<string, string>,
): TcpStatsEntry {
  return {
    id,
    ...(labels !== undefined ? { labels } : {}),
    ...v,
    open: v.opened - v.closed,
  };
}

/**
 * A real control plane with web-v1-a and reviews-v1-a connected, reviews having reported what it
 * served web: 3 successes and one 500. Callers wait for the report to be filed as they need.
 */
export async function reviewsReportingControlPlane(
  t: TestContext,
): Promise<{ cp: TestControlPlane; reviews: StreamClient; web: StreamClient }> {
  const cp = await startTestControlPlane(t);
  const reviews = await StreamClient.connect(t, cp.url);
  await reviews.register(registration('reviews-v1-a', { service: 'reviews' }));
  const web = await StreamClient.connect(t, cp.url);
  await web.register(registration('web-v1-a', { service: 'web' }));
  reviews.send({
    type: 'stats',
    requests: [
      requestEntry(0, { 3: 3 }, edgeLabels('destination')),
      requestEntry(1, { 6: 1 }, edgeLabels('destination', { response_code: '500' })),
    ],
  });
  return { cp, reviews, web };
}
