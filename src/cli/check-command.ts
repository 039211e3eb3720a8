// `trellis check`: linkerd-check style health of the mesh's security. The control plane checks its CA
// and the certificates and clocks of the proxies connected to it; the CLI adds the control plane's
// clock against its own (the answer's time, corrected by half the round trip). Exit 1 on any error.
import type { Command } from 'commander';
import { skewCheck, type SecurityCheck } from '../control/api-identity-checks.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured } from './output.ts';

interface CheckFlags {
  output?: string;
  control?: string;
  token?: string;
}

interface CheckAnswer {
  time: string;
  checks: SecurityCheck[];
}

function line(c: SecurityCheck): string {
  if (c.ok) return `${colour.green('√')} ${c.message}`;
  return c.severity === 'error' ? `${colour.red('×')} ${c.message}` : `${colour.yellow('‼')} ${c.message}`;
}

export function summary(checks: SecurityCheck[]): { errors: number; warnings: number; text: string } {
  const errors = checks.filter((c) => !c.ok && c.severity === 'error').length;
  const warnings = checks.filter((c) => !c.ok && c.severity === 'warning').length;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const text =
    errors === 0 && warnings === 0
      ? `Status check results are ${colour.green('√')} (${plural(checks.length, 'check')})`
      : `${plural(checks.length, 'check')}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  return { errors, warnings, text };
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description(
      'check the mesh: CA signer and roots, every proxy certificate (valid, renewed in time, right ' +
        'SPIFFE ID), clocks; exit 1 when a check fails with an error',
    )
    .option('-o, --output <format>', 'json|yaml')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (opts: CheckFlags) => {
      const format = parseOutput(opts.output);
      if (format === 'wide') throw new Error('-o must be json or yaml for check');
      const api = new ControlApi(resolveApiTarget(opts));
      const sentAt = Date.now();
      const answer = await api.request<CheckAnswer>('GET', '/api/v1/check');
      const receivedAt = Date.now();
      // The control plane read its clock somewhere in the round trip: its middle is the best guess.
      const skew = Date.parse(answer.time) - (sentAt + receivedAt) / 2;
      const own = skewCheck('control-plane-clock', "this machine's clock", -skew);
      own.message += ` (round trip ${receivedAt - sentAt}ms)`;
      const checks = [...answer.checks, own];
      const result = summary(checks);
      if (format === 'json' || format === 'yaml')
        process.stdout.write(
          structured({ checks, errors: result.errors, warnings: result.warnings }, format),
        );
      else process.stdout.write(`${checks.map(line).join('\n')}\n\n${result.text}\n`);
      if (result.errors > 0) process.exitCode = 1;
    });
}
