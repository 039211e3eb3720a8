// The `trellis` command. Subcommands live in their own files; this only wires them.
import { Command } from 'commander';
import { registerProxyCommand } from './proxy-command.ts';

const program = new Command()
  .name('trellis')
  .description('Trellis service mesh: proxy, control plane and tools')
  .version('0.1.0')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

registerProxyCommand(program);

await program.parseAsync(process.argv);
