// The CLI against a real control plane found the way a user's shell finds it (./.trellis in the
// current directory): invalid files refused with file:line:column and nothing stored, a directory
// applied whole, and an unreachable control plane reported with exit status 3.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { Scope, trellis, trellisOk, up } from './harness.ts';

const GOOD_SERVICE = `apiVersion: v1
kind: Service
metadata: { name: good-one, namespace: default }
spec:
  selector: { app: good }
  ports: [{ port: 80 }]
`;

// The second document is invalid: weight must be a number (line 14, column 49).
const BAD = `${GOOD_SERVICE}---
apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: broken, namespace: default }
spec:
  service: reviews
  routes:
    - backends: [{ service: reviews-v1, weight: ninety }]
`;

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: reviews-v1, namespace: default }
spec:
  selector: { app: reviews, version: v1 }
  ports: [{ port: 9080 }]
---
apiVersion: v1
kind: Service
metadata: { name: reviews-v2, namespace: default }
spec:
  selector: { app: reviews, version: v2 }
  ports: [{ port: 9080 }]
`;

const ROUTE = `apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: reviews-split, namespace: default }
spec:
  service: reviews
  routes:
    - backends: [{ service: reviews-v1, weight: 50 }, { service: reviews-v2, weight: 50 }]
`;

const Names = z.object({ items: z.array(z.object({ metadata: z.object({ name: z.string() }) })) });

test(
  'apply refuses bad files with file:line:col, applies a directory whole; unreachable → exit 3',
  { timeout: 90_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cwd = scope.dir;
    // `trellis up` in the default dir: every command below finds it through ./.trellis/control.json.
    const cp = await up(scope, { dir: '.trellis' });
    const names = async (kind: string): Promise<string[]> =>
      Names.parse(JSON.parse(await trellisOk(['get', kind, '-o', 'json'], { cwd }))).items.map(
        (i) => i.metadata.name,
      );

    await writeFile(path.join(cwd, 'BAD.yaml'), BAD);
    const bad = await trellis(['apply', '-f', 'BAD.yaml'], { cwd });
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /^error: BAD\.yaml:14:49: .*\(spec\.routes\[0\]\.backends\[0\]\.weight\)$/m);
    assert.equal(bad.stdout, '');
    // Nothing from the file was stored, not even its valid first document.
    assert.deepEqual(await names('svc'), []);
    assert.deepEqual(await names('trafficroute'), []);

    // A directory: every .yaml in it, other files ignored.
    const dir = await scope.subdir('manifests');
    await writeFile(path.join(dir, '10-services.yaml'), SERVICES);
    await writeFile(path.join(dir, '20-route.yml'), ROUTE);
    await writeFile(path.join(dir, 'README.txt'), 'not a manifest: {');
    const applied = await trellisOk(['apply', '-f', 'manifests'], { cwd });
    assert.deepEqual(applied.trim().split('\n'), [
      'service/reviews-v1 created',
      'service/reviews-v2 created',
      'trafficroute/reviews-split created',
    ]);
    assert.deepEqual(await names('services'), ['reviews-v1', 'reviews-v2']);
    assert.deepEqual(await names('trafficroutes'), ['reviews-split']);
    const again = await trellisOk(['apply', '-f', 'manifests'], { cwd });
    assert.match(again, /^trafficroute\/reviews-split unchanged$/m);

    // One bad file in a directory: the whole directory is refused.
    const mixed = await scope.subdir('mixed');
    await writeFile(path.join(mixed, 'a-good.yaml'), GOOD_SERVICE);
    await writeFile(path.join(mixed, 'b-bad.yaml'), BAD);
    const refused = await trellis(['apply', '-f', 'mixed'], { cwd });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: mixed\/b-bad\.yaml:14:49: /m);
    assert.deepEqual(await names('svc'), ['reviews-v1', 'reviews-v2']);

    // The control plane dies: its control.json is left behind, and the CLI says where it looked.
    cp.proc.signal('SIGKILL');
    await cp.proc.exited;
    const down = await trellis(['get', 'svc'], { cwd });
    assert.equal(down.code, 3, down.stderr);
    assert.equal(down.stdout, '');
    assert.match(
      down.stderr,
      new RegExp(
        `cannot reach the control plane at ${cp.url.replaceAll('.', '\\.')} \\(from .*control\\.json\\)`,
      ),
    );
    assert.match(
      down.stderr,
      /Is `trellis up` running\? Point to it with --control URL or TRELLIS_CONTROL\./,
    );
    const flagged = await trellis(['get', 'svc', '--control', cp.url], { cwd });
    assert.equal(flagged.code, 3);
    assert.match(flagged.stderr, /\(from --control\)/);
  },
);
