// The commander program every `trellis` entry point builds, and how it ends: exit codes scripts
// can rely on (1 invalid, refused or unauthorised; 3 control plane unreachable).
import { Command } from 'commander';
import { CliError } from './api-client.ts';
import { ConfigError, formatDiagnostic } from '../errors.ts';

export function newProgram(): Command {
  return (
    new Command()
      .name('trellis')
      .description('Trellis service mesh: proxy, control plane and tools')
      .version('0.1.0')
      // Program options only before the subcommand, so `trellis run --version v2` is the workload's version.
      .enablePositionalOptions()
      .showHelpAfterError()
      .configureHelp({ sortSubcommands: true })
  );
}

export async function runProgram(program: Command): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const diagnostics = err instanceof CliError || err instanceof ConfigError ? err.diagnostics : [];
    for (const d of diagnostics) process.stderr.write(`error: ${formatDiagnostic(d)}\n`);
    if (diagnostics.length === 0)
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof CliError ? err.exitCode : 1);
  }
}
