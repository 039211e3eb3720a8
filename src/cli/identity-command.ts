// `trellis identity WORKLOAD`: the SPIFFE ID a workload runs as and the certificate its proxy holds
// (as the control plane issued it on the proxy's push stream), chain included.
import type { Command } from 'commander';
import { expiry } from '../control/api-identity-checks.ts';
import type { IdentityView } from '../control/api-identity.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour, parseOutput, structured } from './output.ts';

interface IdentityFlags {
  namespace: string;
  output?: string;
  control?: string;
  token?: string;
}

/** ISO time without milliseconds: what an operator reads. */
export const shortTime = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** "expires in 15h", coloured when close (under an hour) or past. */
export function expiryText(notAfter: string, now = Date.now()): string {
  const text = expiry(notAfter, now);
  const left = Date.parse(notAfter) - now;
  return left <= 0 ? colour.red(text) : left < 3_600_000 ? colour.yellow(text) : text;
}

function render(id: IdentityView): string {
  const leaf = id.chain[0];
  const lines = [
    `Workload:    ${id.namespace}/${id.workload}`,
    `Proxy:       ${id.proxy}`,
    `SPIFFE ID:   ${id.spiffeId}`,
    `Serial:      ${id.serial}`,
    `Issuer:      ${leaf?.issuer ?? '-'}`,
    `Issued:      ${shortTime(id.issuedAt)}`,
    `Not before:  ${leaf === undefined ? '-' : shortTime(leaf.notBefore)}`,
    `Not after:   ${shortTime(id.notAfter)} (${expiryText(id.notAfter)})`,
    'Chain:',
  ];
  for (const [i, c] of id.chain.entries()) {
    lines.push(
      `  [${i}] ${c.subject || '(empty subject)'}${c.isCa ? ' (CA)' : ''}`,
      `      issuer:   ${c.issuer}`,
      `      serial:   ${c.serial}`,
      `      valid:    ${shortTime(c.notBefore)} → ${shortTime(c.notAfter)}`,
      ...(c.uriSans.length > 0 ? [`      URI SANs: ${c.uriSans.join(', ')}`] : []),
    );
  }
  lines.push(
    '  (roots are not sent with the chain: peers hold them in their trust bundle; see trellis ca info)',
  );
  return `${lines.join('\n')}\n`;
}

export function registerIdentityCommand(program: Command): void {
  program
    .command('identity')
    .description("a workload's SPIFFE ID and the certificate its proxy holds (issuer, validity, chain)")
    .argument('<workload>', 'workload name (see trellis get workloads)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-o, --output <format>', 'json|yaml (with the chain as PEM)')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .action(async (workload: string, opts: IdentityFlags) => {
      const format = parseOutput(opts.output);
      if (format === 'wide') throw new Error('-o must be json or yaml for identity');
      const api = new ControlApi(resolveApiTarget(opts));
      const id = await api.request<IdentityView>(
        'GET',
        `/api/v1/identities/${encodeURIComponent(opts.namespace)}/${encodeURIComponent(workload)}`,
      );
      process.stdout.write(format === 'json' || format === 'yaml' ? structured(id, format) : render(id));
    });
}
