import cluster from 'node:cluster';
import type { Command } from 'commander';
import { formatDiagnostic, ConfigError } from '../errors.ts';
import { loadConfigFile } from '../model/load.ts';

export function registerProxyCommand(program: Command): void {
  program
    .command('proxy')
    .description('run the Trellis proxy from a static config file (internal model, YAML or JSON)')
    .requiredOption('-c, --config <file>', 'config file; reloaded when it changes or on SIGHUP')
    .option('--workers <n>', 'worker processes sharing the listeners', '1')
    .option('--check', 'validate the config and exit (0 valid, 1 invalid)')
    .action(async (opts: { config: string; workers: string; check?: boolean }) => {
      if (cluster.isWorker) {
        // A worker of --workers N serves what its primary validated, never the file directly.
        const { runWorker } = await import('../proxy/run.ts');
        await runWorker();
        return;
      }
      try {
        const cfg = await loadConfigFile(opts.config);
        if (opts.check) {
          process.stdout.write(`${opts.config}: valid (version ${cfg.version})\n`);
          return;
        }
        const { runProxy } = await import('../proxy/run.ts');
        await runProxy({ configFile: opts.config, config: cfg, workers: Number(opts.workers) });
      } catch (err) {
        if (err instanceof ConfigError) {
          for (const d of err.diagnostics) process.stderr.write(`error: ${formatDiagnostic(d)}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });
}
