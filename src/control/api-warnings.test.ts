// The warnings of the config in force: none for a sound config, then a dangling reference and a
// conflict as `trellis apply` reports them; readers may ask, nobody without a token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WarningsResponse } from './api-warnings.ts';
import { api, serviceYaml, startTestControlPlane } from './testing.ts';

const route = (name: string): string => `apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: ${name} }
spec:
  service: reviews
  routes:
    - backends: [{ service: reviews-v9 }]
`;

test('warnings: dangling references and conflicts of the config in force', async (t) => {
  const cp = await startTestControlPlane(t);
  const get = async (): Promise<WarningsResponse> => {
    const res = await api<WarningsResponse>(cp.url, 'GET', '/api/v1/warnings', undefined, {
      token: cp.readerToken,
    });
    assert.equal(res.status, 200);
    return res.body;
  };
  assert.equal(
    (await api(cp.url, 'POST', '/api/v1/apply?file=svc.yaml', serviceYaml('reviews'))).status,
    200,
  );
  assert.deepEqual(await get(), { revision: cp.view.revision, items: [] });

  const text = `${route('a-split')}---\n${route('b-split')}`;
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=routes.yaml', text)).status, 200);
  const after = await get();
  assert.equal(after.revision, cp.view.revision);
  const of = (name: string): string[] =>
    after.items
      .filter((w) => w.resource === `resources/TrafficRoute/default/${name}`)
      .map((w) => `${w.path}: ${w.message}`);
  assert.ok(
    of('a-split').some((m) => /reviews-v9/.test(m)),
    JSON.stringify(after.items),
  );
  assert.ok(
    of('b-split').some((m) => /^spec\.service: ignored: TrafficRoute default\/a-split/.test(m)),
    JSON.stringify(after.items),
  );
  const anonymous = await api(cp.url, 'GET', '/api/v1/warnings', undefined, { token: null });
  assert.equal(anonymous.status, 401);
});
