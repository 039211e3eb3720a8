// The control plane's side of telemetry: what each workload's proxy records and where it sends it,
// from Istio's Telemetry resources in view (src/dialects/telemetry.ts) and the endpoints the
// control plane was started with (`trellis up --otlp-endpoint --zipkin-endpoint --access-log`).
// Built once per push; without any Telemetry resource every proxy gets the defaults.
import { prepareTelemetry, workloadIdentity, type TelemetryDefaults } from '../dialects/index.ts';
import type { MeshView } from './mesh-view.ts';
import type { MeshTelemetry } from './snapshot/compiler.ts';

export type { TelemetryDefaults };

export function meshTelemetry(view: MeshView, defaults: TelemetryDefaults = {}): MeshTelemetry | undefined {
  const resources = view.dialectResources();
  if (!resources.some((r) => r.kind === 'Telemetry')) return undefined;
  const prepared = prepareTelemetry(resources, defaults);
  return { forWorkload: (w) => prepared.forWorkload(workloadIdentity(w)).telemetry };
}
