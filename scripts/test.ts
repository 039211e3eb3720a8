// The one test command (README: `npm ci && npm test`): system packages, types, lint, the build, then
// every test file.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const only = process.argv.slice(2);

/** Runs one step; `ok` lists the exit statuses that count as success. */
function step(name: string, cmd: string, args: string[], ok: readonly number[] = [0]): void {
  process.stderr.write(`\n== ${name}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status === null || !ok.includes(r.status)) {
    process.stderr.write(`== ${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

if (only.length === 0) {
  step('system packages', 'bash', ['scripts/system-deps.sh', 'test']);
  step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  step('typecheck (dashboard)', 'npx', ['tsc', '-p', 'web', '--noEmit']);
  step('lint', 'npx', ['eslint', '.']);
}
// The SO_ORIGINAL_DST addon (transparent mode): `npm ci` builds it; a checkout from before it may not have it.
if (!existsSync(`${root}native/original-dst/build/Release/original_dst.node`))
  step('native build', 'npm', ['run', 'build:native']);
// Tests that start the `trellis` process run bin/trellis.js, which runs this build (dist/). tsc exits
// 2 when it wrote the build despite type errors: those are the typecheck step's to report.
step('build', 'npx', ['tsc', '-p', 'tsconfig.build.json'], [0, 2]);
// The control plane serves the dashboard from dist/dashboard/; its end-to-end tests drive Chromium on it.
step('build (dashboard)', 'npm', ['run', 'build:dashboard']);
// bench/ has tests of its own harness (output parsers, load generator, report, mTLS targets).
const files =
  only.length > 0
    ? only
    : ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/**/*.test.ts', 'bench/**/*.test.ts'];
step('tests', process.execPath, [
  '--test',
  '--test-concurrency=2',
  '--test-timeout=120000',
  '--test-reporter=spec',
  ...files,
]);
