// The `trellis` command. Subcommands live in their own files; this only wires them.
import { Command } from 'commander';
import { registerAnalyzeCommand } from './analyze-command.ts';
import { registerApplyCommands } from './apply-command.ts';
import { CliError } from './api-client.ts';
import { registerAuthzCommands } from './authz-command.ts';
import { registerCaCommands } from './ca-command.ts';
import { registerCheckCommand } from './check-command.ts';
import { registerDashboardCommand } from './dashboard-command.ts';
import { registerDemoCommand } from './demo-command.ts';
import { registerGetCommands } from './get-command.ts';
import { registerHistoryCommands } from './history-command.ts';
import { registerIdentityCommand } from './identity-command.ts';
import { registerProxyCommand } from './proxy-command.ts';
import { registerProxyConfigCommand } from './proxy-config-command.ts';
import { registerRunCommand } from './run-command.ts';
import { registerSidecarCommand } from './sidecar-command.ts';
import { registerStatCommands } from './stat-command.ts';
import { registerTapCommand } from './tap-command.ts';
import { registerTopCommand } from './top-command.ts';
import { registerTokenCommands } from './token-command.ts';
import { registerUpCommand } from './up-command.ts';
import { ConfigError, formatDiagnostic } from '../errors.ts';

const program = new Command()
  .name('trellis')
  .description('Trellis service mesh: proxy, control plane and tools')
  .version('0.1.0')
  // Program options only before the subcommand, so `trellis run --version v2` is the workload's version.
  .enablePositionalOptions()
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

registerProxyCommand(program);
registerProxyConfigCommand(program);
registerUpCommand(program);
registerRunCommand(program);
registerSidecarCommand(program);
registerApplyCommands(program);
registerAnalyzeCommand(program);
registerGetCommands(program);
registerHistoryCommands(program);
registerTokenCommands(program);
registerIdentityCommand(program);
registerCheckCommand(program);
registerAuthzCommands(program);
registerCaCommands(program);
registerDemoCommand(program);
registerDashboardCommand(program);
registerStatCommands(program);
registerTapCommand(program);
registerTopCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Exit codes scripts can rely on: 1 invalid, refused or unauthorised, 3 control plane unreachable.
  const diagnostics = err instanceof CliError || err instanceof ConfigError ? err.diagnostics : [];
  for (const d of diagnostics) process.stderr.write(`error: ${formatDiagnostic(d)}\n`);
  if (diagnostics.length === 0)
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
