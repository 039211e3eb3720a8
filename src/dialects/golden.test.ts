// Runs every golden case (see golden.ts). `npm run golden:update` rewrites expected.json files.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { goldenCases, runGolden, shuffled } from './golden.ts';

/** As `prettier --write` would leave it, so regenerated files pass `npm run lint`. */
async function formatted(file: string, value: unknown): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(JSON.stringify(value), { ...options, filepath: file });
}

const update = process.env.GOLDEN_UPDATE === '1';

for (const c of goldenCases()) {
  test(`golden ${c.dialect}/${c.name}`, async () => {
    const actual = runGolden(c);
    const file = path.join(c.dir, 'expected.json');
    if (update) {
      writeFileSync(file, await formatted(file, actual));
      return;
    }
    assert.ok(existsSync(file), `${file} is missing: run npm run golden:update`);
    assert.deepEqual(JSON.parse(JSON.stringify(actual)), JSON.parse(readFileSync(file, 'utf8')));
    // The same resources in other orders (as another apply order would store them): same result.
    for (const seed of [1, 7, 42])
      assert.deepEqual(
        runGolden(c, (rs) => shuffled(rs, seed)),
        actual,
      );
    assert.deepEqual(
      runGolden(c, (rs) => [...rs].reverse()),
      actual,
    );
  });
}
