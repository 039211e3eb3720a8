import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as conventions from '@opentelemetry/semantic-conventions';
import * as copied from './semconv.ts';

test('the copied attribute names are the semantic conventions package’s', () => {
  const upstream: Record<string, unknown> = conventions;
  for (const [name, value] of Object.entries(copied)) assert.equal(value, upstream[name], name);
});
