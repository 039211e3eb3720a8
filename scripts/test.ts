// The one test command (README: `npm ci && npm test`): system packages, types, lint, then every test file.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const only = process.argv.slice(2);

function step(name: string, cmd: string, args: string[]): void {
  process.stderr.write(`\n== ${name}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`== ${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

if (only.length === 0) {
  step('system packages', 'bash', ['scripts/system-deps.sh', 'test']);
  step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  step('lint', 'npx', ['eslint', '.']);
}
const files = only.length > 0 ? only : ['src/**/*.test.ts', 'test/**/*.test.ts'];
step('tests', process.execPath, [
  '--test',
  '--test-concurrency=2',
  '--test-timeout=120000',
  '--test-reporter=spec',
  ...files,
]);
