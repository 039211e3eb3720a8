// `trellis ca info|rotate|finish-rotation`: the mesh CA. A rotation is two steps: `rotate` makes a
// new root that signs from now on (the old one stays trusted, proxies are asked to renew), and
// `finish-rotation` drops the old root once every connected proxy holds a new-root certificate.
import type { Command } from 'commander';
import type { CaView } from '../control/api-identity.ts';
import { ControlApi } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { expiryText, shortTime } from './identity-command.ts';
import { colour, parseOutput, structured, table } from './output.ts';

interface CaFlags {
  force?: boolean;
  output?: string;
  control?: string;
  token?: string;
}

function render(ca: CaView): string {
  const lines = [
    `Trust domain:  ${ca.trustDomain}`,
    `Managed:       ${ca.managed === 'self' ? 'self (root kept in the store)' : 'files (trellis up --ca-cert/--ca-key)'}`,
    `Signer:        ${ca.signer.subject}, until ${shortTime(ca.signer.notAfter)} (${expiryText(ca.signer.notAfter)})`,
    'Roots:',
    ...table(
      ['', 'SUBJECT', 'NOT-AFTER', 'FINGERPRINT (SHA-256)'],
      ca.roots.map((r) => [r.current ? '*' : '', r.subject, shortTime(r.notAfter), r.fingerprint]),
    )
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`),
  ];
  const rot = ca.rotation;
  if (!rot.inProgress) lines.push('Rotation:      none in progress');
  else {
    const since = rot.startedAt !== undefined ? ` since ${shortTime(rot.startedAt)}` : '';
    const pending = rot.pending.length;
    lines.push(
      `Rotation:      ${colour.yellow('in progress')}${since}; ` +
        (pending === 0
          ? 'every connected proxy holds a new-root certificate: trellis ca finish-rotation'
          : `${pending} connected ${pending === 1 ? 'proxy holds' : 'proxies hold'} an old-root certificate`),
      ...rot.pending.map(
        (p) => `  ${p.namespace}/${p.workload} (serial ${p.serial}, issued ${shortTime(p.issuedAt)})`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

function output(value: CaView, format: ReturnType<typeof parseOutput>, before = ''): void {
  if (format === 'json' || format === 'yaml') process.stdout.write(structured(value, format));
  else process.stdout.write(`${before}${render(value)}`);
}

export function registerCaCommands(program: Command): void {
  const ca = program.command('ca').description('the mesh certificate authority: info and root rotation');
  const common = (c: Command): Command =>
    c
      .option('-o, --output <format>', 'json|yaml')
      .option('--control <url>', 'control plane URL')
      .option('--token <token>', TOKEN_HELP);
  const format = (opts: CaFlags) => {
    const f = parseOutput(opts.output);
    if (f === 'wide') throw new Error('-o must be json or yaml for ca commands');
    return f;
  };

  common(ca.command('info').description('trust domain, roots, signer, and any rotation in progress')).action(
    async (opts: CaFlags) => {
      const f = format(opts);
      output(await new ControlApi(resolveApiTarget(opts)).request<CaView>('GET', '/api/v1/ca'), f);
    },
  );

  common(
    ca
      .command('rotate')
      .description(
        'start a root rotation: a new root signs from now on, the old one stays trusted, every proxy ' +
          'renews within seconds (admin); then run trellis ca finish-rotation',
      )
      .option('--force', 'start another rotation while one is in progress'),
  ).action(async (opts: CaFlags) => {
    const f = format(opts);
    const api = new ControlApi(resolveApiTarget(opts));
    const view = await api.request<CaView>(
      'POST',
      `/api/v1/ca/rotate${opts.force === true ? '?force=1' : ''}`,
    );
    output(view, f, 'root rotation started: proxies are renewing; then run trellis ca finish-rotation\n\n');
  });

  common(
    ca
      .command('finish-rotation')
      .description(
        'end a root rotation: only the new root stays trusted; refused while a connected proxy still ' +
          'holds an old-root certificate (admin)',
      )
      .option('--force', 'finish even so (those proxies fail mTLS until they renew)'),
  ).action(async (opts: CaFlags) => {
    const f = format(opts);
    const api = new ControlApi(resolveApiTarget(opts));
    const view = await api.request<CaView & { finished: boolean }>(
      'POST',
      `/api/v1/ca/finish-rotation${opts.force === true ? '?force=1' : ''}`,
    );
    output(
      view,
      f,
      view.finished ? 'root rotation finished: old roots dropped\n\n' : 'no rotation in progress\n\n',
    );
  });
}
