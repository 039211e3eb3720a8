// The security tools from a user's shell, against `trellis up` and two `trellis run` workloads:
// `trellis identity` shows the certificate a proxy holds, `trellis check` passes on a healthy mesh,
// `trellis authz explain` names the policy that allows web and denies another account, and a root
// rotation (`trellis ca rotate`, then `finish-rotation` once the proxies renewed) keeps traffic flowing.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { MeshClient } from './client.ts';
import { run, Scope, trellis, trellisOk, up, waitUntil } from './harness.ts';

const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-readers, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/web] } }]
      to: [{ operation: { methods: [GET], paths: [/reviews/*] } }]
`;

const Identity = z.object({
  spiffeId: z.string(),
  chain: z.array(z.object({ issuer: z.string(), uriSans: z.array(z.string()), notAfter: z.string() })),
});
const CaInfo = z.object({
  roots: z.array(z.object({ fingerprint: z.string(), current: z.boolean() })),
  rotation: z.object({ inProgress: z.boolean(), pending: z.array(z.object({ workload: z.string() })) }),
});
const Checks = z.object({
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), severity: z.string(), message: z.string() })),
  errors: z.number(),
  warnings: z.number(),
});

test(
  'trellis identity, check, authz explain and ca rotate/finish-rotation against a running mesh',
  { timeout: 180_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cwd = scope.dir;
    const cp = await up(scope, { dir: '.trellis' });
    await run(scope, cp.url, { service: 'reviews', flags: ['--name', 'reviews-1'] });
    const web = await run(scope, cp.url, { service: 'web', flags: ['--name', 'web-1'] });
    const client = new MeshClient(web.ports.outbound);
    t.after(() => client.close());
    await waitUntil(
      'web → reviews',
      async () => (await client.get('http://reviews/reviews/1')).status === 200 || undefined,
    );

    // identity: the certificate reviews' proxy holds.
    const shown = await waitUntil('reviews-1 to hold a certificate', async () => {
      const r = await trellis(['identity', 'reviews-1'], { cwd });
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.match(shown, /^SPIFFE ID: +spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews$/m);
    assert.match(shown, /^Not after: +\S+ \S+ \(expires in (23|24)h\)$/m);
    assert.match(shown, /^Issuer: +O=Trellis, CN=Trellis Root CA cluster\.local$/m);
    const id = Identity.parse(
      JSON.parse(await trellisOk(['identity', 'reviews-1', '-n', 'default', '-o', 'json'], { cwd })),
    );
    assert.deepEqual(id.chain[0]?.uriSans, [id.spiffeId]);
    const nobody = await trellis(['identity', 'nobody'], { cwd });
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no proxy of workload default\/nobody/);

    // proxy-config: what web's proxy has in force (found by workload name), secrets summarised.
    const clusters = z
      .array(z.object({ name: z.string(), mtls: z.object({ identities: z.array(z.string()) }).optional() }))
      .parse(JSON.parse(await trellisOk(['proxy-config', 'web-1', 'clusters', '-o', 'json'], { cwd })));
    const toReviews = clusters.find((c) => c.name === 'outbound:reviews.default');
    assert.deepEqual(toReviews?.mtls?.identities, ['spiffe://cluster.local/ns/default/sa/reviews']);
    const secrets = await trellisOk(['proxy-config', 'web-1.default', 'secrets'], { cwd });
    assert.match(
      secrets,
      /^CERTIFICATE +spiffe:\/\/cluster\.local\/ns\/default\/sa\/web +O=Trellis, CN=Trellis Root CA/m,
    );
    assert.doesNotMatch(secrets, /PRIVATE KEY/);
    const noProxy = await trellis(['proxy-config', 'nobody', 'clusters'], { cwd });
    assert.equal(noProxy.code, 1);
    assert.match(noProxy.stderr, /no connected proxy matches "nobody"/);

    // check: a healthy mesh passes (exit 0).
    const checked = await trellis(['check'], { cwd });
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /^√ CA signer .* is valid/m);
    assert.match(checked.stdout, /^√ all 2 connected proxies hold a valid certificate from a trusted root$/m);
    assert.match(checked.stdout, /^√ this machine's clock is \d+ms (ahead of|behind) the control plane's/m);
    assert.match(checked.stdout, /^Status check results are √/m);
    assert.doesNotMatch(checked.stdout, /^[×‼]/m);
    const json = Checks.parse(JSON.parse(await trellisOk(['check', '-o', 'json'], { cwd })));
    assert.equal(json.errors, 0);
    assert.ok(json.checks.some((c) => c.name === 'control-plane-clock' && c.ok));

    // authz explain on an applied AuthorizationPolicy, and the data plane agreeing.
    const file = path.join(cwd, 'policy.yaml');
    await writeFile(file, POLICY);
    await trellisOk(['apply', '-f', file], { cwd });
    const allowed = await trellisOk(
      ['authz', 'explain', '--from', 'web', '--to', 'reviews', '--path', '/reviews/1'],
      { cwd },
    );
    assert.match(
      allowed,
      /^spiffe:\/\/cluster\.local\/ns\/default\/sa\/web → reviews\.default: GET \/reviews\/1$/m,
    );
    assert.match(
      allowed,
      /^default\/reviews-1 \(service account reviews, mTLS PERMISSIVE\): ALLOWED by default\/reviews-readers \(AuthorizationPolicy\/default\/reviews-readers\)$/m,
    );
    const denied = await trellisOk(
      [
        'authz',
        'explain',
        '--from',
        'ratings',
        '--to',
        'reviews.default',
        '--path',
        '/reviews/1',
        '-H',
        'x-user: bob',
      ],
      { cwd },
    );
    assert.match(denied, /^default\/reviews-1 .*: DENIED$/m);
    assert.match(denied, /^ {2}no ALLOW policy matched$/m);
    assert.match(
      denied,
      /^ {2}ALLOW policy default\/reviews-readers from AuthorizationPolicy\/default\/reviews-readers: no match$/m,
    );
    assert.match(
      denied,
      /^ {4}rules\[0\]: from\[0\]\.source\.principals: cluster\.local\/ns\/default\/sa\/ratings not in \[cluster\.local\/ns\/default\/sa\/web\]$/m,
    );
    const plain = await trellisOk(['authz', 'explain', '--plaintext', '--to', 'reviews', '-o', 'json'], {
      cwd,
    });
    assert.equal(JSON.parse(plain).workloads[0].allowed, false);
    assert.equal((await trellis(['authz', 'explain', '--to', 'reviews'], { cwd })).code, 1);
    const unknown = await trellis(['authz', 'explain', '--from', 'web', '--to', 'nowhere'], { cwd });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /service nowhere\.default not found/);
    await waitUntil(
      'the policy in force',
      async () => (await client.get('http://reviews/other')).status === 403 || undefined,
    );
    assert.equal((await client.get('http://reviews/reviews/1')).status, 200);

    // A root rotation: traffic keeps flowing; finishing is refused until every proxy renewed.
    const info = await trellisOk(['ca', 'info'], { cwd });
    assert.match(info, /^Trust domain: +cluster\.local$/m);
    assert.match(info, /^Rotation: +none in progress$/m);
    assert.match(await trellisOk(['ca', 'rotate'], { cwd }), /^root rotation started/);
    const rotating = CaInfo.parse(JSON.parse(await trellisOk(['ca', 'info', '-o', 'json'], { cwd })));
    assert.equal(rotating.roots.length, 2);
    assert.equal(rotating.rotation.inProgress, true);
    const statuses: number[] = [];
    const refusals: string[] = [];
    const finished = await waitUntil(
      'finish-rotation to be accepted',
      async () => {
        statuses.push((await client.get('http://reviews/reviews/1')).status);
        const r = await trellis(['ca', 'finish-rotation'], { cwd });
        if (r.code !== 0) refusals.push(r.stderr);
        return r.code === 0 ? r.stdout : undefined;
      },
      60_000,
      200,
    );
    assert.match(finished, /^root rotation finished/);
    for (const why of refusals) assert.match(why, /older root/);
    assert.deepEqual(new Set(statuses), new Set([200]), 'traffic flowed all through the rotation');
    const after = CaInfo.parse(JSON.parse(await trellisOk(['ca', 'info', '-o', 'json'], { cwd })));
    assert.deepEqual(
      after.roots.map((r) => r.fingerprint),
      [rotating.roots[0]?.fingerprint],
    );
    assert.equal((await client.get('http://reviews/reviews/1')).status, 200);
    assert.equal((await trellis(['check'], { cwd })).code, 0);

    for (const args of [
      ['identity'],
      ['check'],
      ['authz', 'explain'],
      ['ca', 'info'],
      ['ca', 'rotate'],
      ['ca', 'finish-rotation'],
      ['proxy-config'],
    ]) {
      const help = await trellisOk([...args, '--help']);
      assert.match(help, new RegExp(`^Usage: trellis ${args.join(' ')}`, 'm'));
    }
  },
);
