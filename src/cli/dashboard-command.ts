// `trellis dashboard`: opens the control plane's web dashboard in a browser, signed in with the
// token this CLI uses. The token travels in the URL's fragment (#token=…), which browsers never send
// to a server; the page moves it to the tab's sessionStorage and clears the address bar.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { CliError, ControlApi, EXIT_REFUSED, EXIT_UNREACHABLE } from './api-client.ts';
import { resolveApiTarget, TOKEN_HELP } from './control-target.ts';
import { colour } from './output.ts';

interface DashboardFlags {
  control?: string;
  token?: string;
  browser: boolean;
  showUrl?: boolean;
}

/** The command that opens a URL in the desktop's browser, per platform. */
export function openerFor(platform: NodeJS.Platform): { command: string; args: string[] } {
  if (platform === 'darwin') return { command: 'open', args: [] };
  if (platform === 'win32') return { command: 'cmd', args: ['/c', 'start', '""'] };
  return { command: 'xdg-open', args: [] };
}

/** Starts the desktop's browser on `url`; false when there is none (a server, an SSH session). */
function openBrowser(url: string): Promise<boolean> {
  const { command, args } = openerFor(process.platform);
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
    return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn(command, [...args, url], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('open the web dashboard of the control plane (topology, services, tap, config, security)')
    .option('--control <url>', 'control plane URL')
    .option('--token <token>', TOKEN_HELP)
    .option('--no-browser', 'print the URL instead of opening a browser')
    .option('--show-url', 'print the sign-in URL (it holds the token) as well')
    .action(async (opts: DashboardFlags) => {
      const target = resolveApiTarget(opts);
      if (target.token === undefined)
        throw new CliError(
          'TRELLIS_NO_TOKEN',
          'no API token: pass --token, set TRELLIS_TOKEN, or run where .trellis/admin-token is',
          EXIT_REFUSED,
        );
      const health = await new ControlApi(target).request<{ role?: string }>('GET', '/api/v1/health');
      if (health.role === undefined)
        throw new CliError(
          'TRELLIS_UNAUTHENTICATED',
          `the control plane refused the token from ${target.token.source}`,
          EXIT_REFUSED,
        );
      const base = await firstServing(target.urls);
      const page = `${base}/dashboard/`;
      const signIn = `${page}#token=${encodeURIComponent(target.token.token)}`;
      const opened = opts.browser && (await openBrowser(signIn));
      if (opened)
        process.stdout.write(`Opened ${colour.bold(page)} in your browser (signed in as ${health.role}).\n`);
      else
        process.stdout.write(
          `Open this URL in a browser (it signs you in as ${health.role}; keep it to yourself):\n  ${signIn}\n`,
        );
      if (opened && opts.showUrl === true) process.stdout.write(`  ${signIn}\n`);
    });
}

/** The first control-plane URL that serves the built dashboard. */
async function firstServing(urls: string[]): Promise<string> {
  let problem = '';
  for (const base of urls) {
    try {
      const res = await fetch(`${base}/dashboard/`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
      if (res.ok) return base;
      problem =
        res.status === 503
          ? `${base} has no built dashboard: run \`npm run build\` where it runs`
          : `${base}/dashboard/ answered ${res.status}`;
    } catch (err) {
      problem = `${base} did not answer (${String(err)})`;
    }
  }
  throw new CliError(
    'TRELLIS_DASHBOARD_UNAVAILABLE',
    problem,
    problem.includes('did not answer') ? EXIT_UNREACHABLE : EXIT_REFUSED,
  );
}
