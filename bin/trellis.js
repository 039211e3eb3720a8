#!/usr/bin/env node
// The `trellis` command.
//
// It runs the compiled JavaScript in dist/ (`npm run build`; `npm ci` builds it through the
// `prepare` script), so a running proxy never loads Node's TypeScript type stripper (~17 MB of
// RSS). When there is no build, or a source file is newer than the build (a checkout being
// edited), it runs the TypeScript sources instead: whoever starts `trellis` never gets stale code.
//
// The long-running commands (`proxy` and `sidecar` next to one app, `up` for the control plane)
// re-exec themselves (same PID, same arguments) with V8 flags sized for their job: Node's defaults
// are sized for servers with many cores and gigabytes. TRELLIS_NODE_FLAGS replaces the defaults
// (empty: Node's own); a flag already given on the command line or in NODE_OPTIONS is left alone.
// Measurements behind the defaults: bench/README.md ("Memory, V8 flags and the build").
/* global process, URL -- Node globals: eslint's config covers TypeScript, not this one JS file */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Per command: the data plane keeps a tiny young generation (bench/README.md, "Memory and V8
// flags"); the control plane a moderate one (V8 would grow it to 128 MB for ~30 MB of live data;
// bench/README.md, "Control plane": 360 → 266 MB at 2,000 proxies).
const COMMAND_FLAGS = new Map([
  ['proxy', ['--max-semi-space-size=1']],
  ['sidecar', ['--max-semi-space-size=1']],
  ['up', ['--max-semi-space-size=16']],
]);

const root = fileURLToPath(new URL('..', import.meta.url));

/** Newest modification time of the sources the build compiles (tests are not part of it). */
function newestSource(dir, depth = 0) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth < 8) newest = Math.max(newest, newestSource(path, depth + 1));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

// The data-plane commands have an entry of their own that loads only what a proxy needs
// (bench/README.md, "Memory, V8 flags and the build").
const DATA_PLANE_COMMANDS = new Set(['proxy', 'sidecar']);

/**
 * dist/cli/main.js when the build is current (dist/.tsbuildinfo is written last by tsc), else the
 * sources. TRELLIS_ENTRY=dist or =src decides instead (the bench measures the build it just made).
 */
function entry() {
  const name = DATA_PLANE_COMMANDS.has(process.argv[2] ?? '') ? 'data-plane-main' : 'main';
  const built = join(root, 'dist', 'cli', `${name}.js`);
  const source = join(root, 'src', 'cli', `${name}.ts`);
  const stamp = join(root, 'dist', '.tsbuildinfo');
  if (process.env.TRELLIS_ENTRY === 'src') return source;
  if (process.env.TRELLIS_ENTRY === 'dist') return built;
  if (!existsSync(built) || !existsSync(stamp)) return source;
  if (!existsSync(source)) return built;
  return newestSource(join(root, 'src')) <= statSync(stamp).mtimeMs ? built : source;
}

/** The V8 flags this command wants and this process still lacks (by name); none for other commands. */
function missingFlags() {
  const defaults = COMMAND_FLAGS.get(process.argv[2] ?? '');
  if (defaults === undefined) return [];
  const wanted = process.env.TRELLIS_NODE_FLAGS ?? defaults.join(' ');
  const given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  return wanted.split(/\s+/).filter((f) => f.startsWith('--') && !given.includes(f.split('=')[0]));
}

const flags = missingFlags();
if (flags.length > 0 && typeof process.execve === 'function') {
  // execve keeps the PID (supervisors and tests that track it are unaffected) and stdio.
  const self = fileURLToPath(import.meta.url);
  process.execve(process.execPath, [
    process.execPath,
    ...flags,
    ...process.execArgv,
    self,
    ...process.argv.slice(2),
  ]);
}
await import(pathToFileURL(entry()).href);
