// The control plane's own door, from a user's shell: `trellis up` writes its API tokens (0600), the
// CLI finds the admin one in ./.trellis, a command without a token or with the reader token is
// refused with exit 1, and `trellis token create|list|revoke` manage join tokens. `trellis run`
// makes its own join token with the admin token and revokes it when the workload stops.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { run, Scope, trellis, trellisOk, up, waitUntil } from './harness.ts';

const TokenRecord = z.object({
  id: z.string(),
  namespace: z.string(),
  serviceAccount: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  revoked: z.boolean(),
  description: z.string().optional(),
});
const Created = z.object({ token: z.string(), record: TokenRecord });
const Listed = z.object({ items: z.array(TokenRecord) });

test(
  'trellis token create/list/revoke against `trellis up`; no token or the reader token is refused (exit 1)',
  { timeout: 120_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cwd = scope.dir;
    const cp = await up(scope, { dir: '.trellis' });
    const adminFile = path.join(cwd, '.trellis', 'admin-token');
    const readerFile = path.join(cwd, '.trellis', 'reader-token');
    for (const f of [adminFile, readerFile]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    await waitUntil('up to print where the token is', () =>
      cp.proc.stdout.includes(adminFile) ? true : undefined,
    );

    // Printed alone, for TOKEN=$(trellis token create ...).
    const plain = await trellisOk(['token', 'create', '--service-account', 'web'], { cwd });
    assert.match(plain, /^trellis-join\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\n$/);
    const json = Created.parse(
      JSON.parse(
        await trellisOk(
          [
            'token',
            'create',
            '--service-account',
            'reviews',
            '-n',
            'shop',
            '--ttl',
            '1h',
            '--description',
            'ci runner',
            '-o',
            'json',
          ],
          { cwd },
        ),
      ),
    );
    assert.equal(json.record.namespace, 'shop');
    assert.equal(json.record.description, 'ci runner');
    assert.equal(Date.parse(json.record.expiresAt ?? '') - Date.parse(json.record.createdAt), 3_600_000);
    const badTtl = await trellis(['token', 'create', '--service-account', 'web', '--ttl', 'soon'], { cwd });
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /ttl/);

    const listed = Listed.parse(JSON.parse(await trellisOk(['token', 'list', '-o', 'json'], { cwd })));
    assert.equal(listed.items.length, 2);
    assert.ok(!JSON.stringify(listed).includes(plain.trim().split('.')[2]!), 'the listing holds no secret');
    const table = await trellisOk(['token', 'list', '-o', 'wide'], { cwd });
    assert.match(table, /^ID\s+NAMESPACE\s+SERVICE-ACCOUNT\s+STATUS\s+EXPIRES\s+CREATED\s+DESCRIPTION$/m);
    assert.match(table, new RegExp(`^${json.record.id}\\s+shop\\s+reviews\\s+valid\\s.*ci runner$`, 'm'));

    assert.equal(
      await trellisOk(['token', 'revoke', json.record.id], { cwd }),
      `join token ${json.record.id} revoked\n`,
    );
    assert.match(
      await trellisOk(['token', 'list'], { cwd }),
      new RegExp(`^${json.record.id}\\s.*revoked`, 'm'),
    );
    const unknown = await trellis(['token', 'revoke', 'ffffffffffffffff'], { cwd });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not found/);

    // Elsewhere, without a token: refused, and told where the token is.
    const elsewhere = await scope.subdir('elsewhere');
    const noToken = await trellis(['get', 'svc', '--control', cp.url], {
      cwd: elsewhere,
      env: { TRELLIS_TOKEN: '' },
    });
    assert.equal(noToken.code, 1, noToken.stderr);
    assert.match(noToken.stderr, /--token, set TRELLIS_TOKEN, or run from the directory of `trellis up`/);
    const wrong = await trellis(['token', 'list', '--control', cp.url, '--token', 'trellis-admin.wrong'], {
      cwd: elsewhere,
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /not valid.*\(token from --token\)/s);

    // The reader token reads the config, but neither writes nor sees join tokens.
    const reader = (await readFile(readerFile, 'utf8')).trim();
    const env = { TRELLIS_TOKEN: reader };
    assert.equal((await trellis(['get', 'svc', '--control', cp.url], { cwd: elsewhere, env })).code, 0);
    const forbidden = await trellis(['token', 'create', '--service-account', 'x', '--control', cp.url], {
      cwd: elsewhere,
      env,
    });
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /reader token may not POST.*\(token from TRELLIS_TOKEN\)/s);

    for (const sub of ['create', 'list', 'revoke']) {
      const help = await trellisOk(['token', sub, '--help']);
      assert.match(help, new RegExp(`^Usage: trellis token ${sub}`, 'm'));
      assert.match(help, /--token <token>/);
    }
  },
);

test('trellis run makes a join token for its service account and revokes it when it stops', async (t) => {
  const scope = await Scope.create(t);
  const cp = await up(scope, { dir: 'cp' });
  const w = await run(scope, cp.url, { service: 'web', version: 'v3' });
  const tokens = async (): Promise<z.infer<typeof TokenRecord>[]> =>
    Listed.parse(JSON.parse(await trellisOk(['token', 'list', '-o', 'json', '--control', cp.url]))).items;
  const [made] = await tokens();
  assert.ok(made !== undefined);
  assert.deepEqual(
    { ns: made.namespace, sa: made.serviceAccount, description: made.description, revoked: made.revoked },
    { ns: 'default', sa: 'web', description: 'trellis run web-v3', revoked: false },
  );
  await w.proc.stop();
  assert.equal((await tokens()).find((r) => r.id === made.id)?.revoked, true);
});
