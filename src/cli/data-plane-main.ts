// `trellis proxy` and `trellis sidecar`: the long-running data-plane commands get an entry point
// of their own (bin/trellis.js picks it), so a proxy process never loads the control plane, the
// dialects and the other commands' modules. Their help and errors are those of `trellis`.
import { registerProxyCommand } from './proxy-command.ts';
import { newProgram, runProgram } from './program.ts';
import { registerSidecarCommand } from './sidecar-command.ts';

const program = newProgram();
registerProxyCommand(program);
registerSidecarCommand(program);
await runProgram(program);
