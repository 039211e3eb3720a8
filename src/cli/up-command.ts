// `trellis up`: the control plane in the foreground, with its embedded store under --dir (or etcd).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CONTROL_FILE, DEFAULT_CONTROL_PORT, DEFAULT_DIR, TOKEN_ENV } from './control-target.ts';
import { createLogger } from '../log.ts';
import { parseDuration } from '../model/duration.ts';

interface UpOptions {
  dir: string;
  port: string;
  host: string;
  etcd?: string;
  etcdPrefix: string;
  trustDomain: string;
  certTtl: string;
  caCert?: string;
  caKey?: string;
  caRoot?: string;
  otlpEndpoint?: string;
  zipkinEndpoint?: string;
  accessLog?: string;
  vipRange: string;
  outboundTrafficPolicy: string;
}

/** An http(s) URL, or an error naming the flag. */
function endpointUrl(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ok = URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
  if (!ok) throw new Error(`${flag} ${value}: give an http(s) URL, e.g. http://127.0.0.1:4318/v1/traces`);
  return value;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('start the control plane in the foreground (API, push stream, registry)')
    .option(
      '--dir <dir>',
      'state directory: embedded store, control.json, admin-token and reader-token',
      DEFAULT_DIR,
    )
    .option('--port <port>', 'API and push stream port', String(DEFAULT_CONTROL_PORT))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--etcd <urls>', 'use etcd (comma-separated client URLs) instead of the embedded store')
    .option('--etcd-prefix <prefix>', 'key prefix in etcd', '/trellis/')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of workload identities', 'cluster.local')
    .option('--cert-ttl <duration>', 'lifetime of workload certificates (renewed at 2/3)', '24h')
    .option('--ca-cert <file>', 'your own CA: signing certificate (an intermediate may carry its chain)')
    .option('--ca-key <file>', 'your own CA: the signing key')
    .option('--ca-root <file>', 'your own CA: the root certificate(s), when --ca-cert does not end with one')
    .option('--otlp-endpoint <url>', 'OTLP/HTTP traces endpoint of Telemetry provider otlp/opentelemetry')
    .option('--zipkin-endpoint <url>', 'Zipkin v2 spans endpoint of Telemetry provider zipkin')
    .option(
      '--access-log <path>',
      'file proxies write access logs to when a Telemetry turns them on (- = stdout)',
    )
    .option(
      '--vip-range <cidr>',
      'IPv4 block service virtual IPs are allocated from (transparent interception)',
      '240.240.0.0/16',
    )
    .option(
      '--outbound-traffic-policy <mode>',
      'intercepted traffic to no known service: ALLOW_ANY (pass it through) or REGISTRY_ONLY (close it)',
      'ALLOW_ANY',
    )
    .action(async (opts: UpOptions) => {
      if ((opts.caCert === undefined) !== (opts.caKey === undefined))
        throw new Error('--ca-cert and --ca-key go together');
      const certTtlMs = parseDuration(opts.certTtl);
      if (certTtlMs === undefined || certTtlMs < 60_000)
        throw new Error(`--cert-ttl ${opts.certTtl}: give a duration of at least 1m, e.g. 24h or 90m`);
      const outboundTrafficPolicy = opts.outboundTrafficPolicy.toUpperCase();
      if (outboundTrafficPolicy !== 'ALLOW_ANY' && outboundTrafficPolicy !== 'REGISTRY_ONLY')
        throw new Error(
          `--outbound-traffic-policy ${opts.outboundTrafficPolicy}: give ALLOW_ANY or REGISTRY_ONLY`,
        );
      const telemetry = {
        otlpEndpoint: endpointUrl('--otlp-endpoint', opts.otlpEndpoint),
        zipkinEndpoint: endpointUrl('--zipkin-endpoint', opts.zipkinEndpoint),
        accessLogPath: opts.accessLog,
      };
      // Loaded here, not at the top: `trellis proxy` must not pay for the control plane's modules.
      const { startControlPlane } = await import('../control/control-plane.ts');
      const { openStore } = await import('../store/index.ts');
      const { ensureApiTokens } = await import('../control/api-auth.ts');
      // Checked before anything is opened: a typo fails at once, naming the flag.
      (await import('../control/vip/range.ts')).parseVipRange(opts.vipRange);
      const log = createLogger('trellis-control');
      await mkdir(opts.dir, { recursive: true });
      const store = await openStore(
        opts.etcd !== undefined
          ? { etcd: opts.etcd.split(','), prefix: opts.etcdPrefix }
          : { dir: path.resolve(opts.dir) },
      );
      const dir = path.resolve(opts.dir);
      // Made before the API listens: once control.json exists, so does the admin token.
      const tokens = await ensureApiTokens(store, dir);
      if (tokens.created.length > 0)
        log.info({ files: tokens.files, roles: tokens.created }, 'API tokens created');
      if (tokens.unknownLocally.length > 0)
        log.warn(
          { roles: tokens.unknownLocally, files: tokens.files },
          'the store holds API tokens made elsewhere (another replica, or a deleted file): copy its admin-token here to use the CLI from this dir',
        );
      const cp = await startControlPlane({
        store,
        host: opts.host,
        port: Number(opts.port),
        auth: { dir, log },
        identity: {
          trustDomain: opts.trustDomain,
          certTtlMs,
          caCertFile: opts.caCert,
          caKeyFile: opts.caKey,
          caRootFile: opts.caRoot,
        },
        telemetry,
        interception: {
          vipRange: opts.vipRange,
          outboundTrafficPolicy,
          onProblem: (service, p) => log.warn({ service, code: p.code }, `no virtual IP: ${p.message}`),
          onError: (err) => log.warn({ err }, 'virtual IP allocation failed; retrying'),
        },
      });
      cp.push.onPushed = (p) => {
        if (p.sent > 0) log.info(p, 'pushed');
      };
      const controlFile = path.join(opts.dir, CONTROL_FILE);
      await writeFile(controlFile, `${JSON.stringify({ url: cp.url, pid: process.pid })}\n`);
      log.info({ url: cp.url, store: store.kind, dir: path.resolve(opts.dir) }, 'control plane listening');
      process.stdout.write(
        `Trellis control plane\n  API and push stream: ${cp.url}\n  store: ${store.kind === 'etcd' ? `etcd ${opts.etcd}` : path.resolve(opts.dir)}\n` +
          `Other commands find it through ${controlFile} (or --control ${cp.url}).\n` +
          (tokens.unknownLocally.includes('admin')
            ? `API tokens: made by another replica; give its admin-token with --token or ${TOKEN_ENV}.\n`
            : `API tokens: ${tokens.files.admin} (admin), ${tokens.files.reader} (read-only);\n` +
              `  from another directory: export ${TOKEN_ENV}=$(cat ${tokens.files.admin})\n`),
      );
      let stopping = false;
      const stop = async (): Promise<void> => {
        if (stopping) return;
        stopping = true;
        log.info('stopping');
        await cp.close();
        await store.close();
        await rm(controlFile, { force: true });
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });
}
