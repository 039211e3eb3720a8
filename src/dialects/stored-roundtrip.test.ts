// What the API stores is the parsed form of a resource (durations in milliseconds, defaults
// filled); the control plane's view parses it again from the store. Every golden input must come
// back identical, or the view would drop it silently (a VirtualService with `fixedDelay: 7s` once did).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { extraKind, isKind, RESOURCE_SCHEMAS } from '../resources/kinds.ts';
import { parseResources } from '../resources/parse.ts';
import './index.ts';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Reads a stored value back the way src/control/mesh-view.ts does. */
function readBack(value: unknown): unknown {
  const v = value as { kind?: unknown; apiVersion?: unknown };
  if (isKind(v.kind)) return RESOURCE_SCHEMAS[v.kind].parse(value);
  const schema = typeof v.apiVersion === 'string' ? extraKind(v.kind)?.versions.get(v.apiVersion) : undefined;
  assert.ok(schema, `no schema for ${String(v.apiVersion)} ${String(v.kind)}`);
  return schema.parse(value);
}

for (const dialect of ['istio', 'smi', 'gateway', 'linkerd']) {
  for (const name of readdirSync(`${root}${dialect}/golden`)) {
    test(`${dialect}/${name}: every resource reads back from the store as it was stored`, () => {
      const file = `${root}${dialect}/golden/${name}/input.yaml`;
      for (const r of parseResources(readFileSync(file, 'utf8'), file)) {
        const stored: unknown = JSON.parse(JSON.stringify(r));
        assert.deepEqual(readBack(stored), stored, `${r.kind} ${r.metadata.name}`);
      }
    });
  }
}
