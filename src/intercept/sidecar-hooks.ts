// What a sidecar does with the transparent-mode parts of each config it applies: write the mesh
// names (ProxyConfig.dns) into the app's hosts file, and say once if connections cannot be
// told apart because the SO_ORIGINAL_DST addon is missing (the listener then acts as a plain proxy).
import type { Logger } from 'pino';
import type { ProxyConfig } from '../model/schema.ts';
import { HostsFile } from './hosts.ts';
import { loadOriginalDstAddon } from './original-dst.ts';

export function interceptionHooks(o: {
  hostsFile?: string | undefined;
  log: Logger;
}): (c: ProxyConfig) => void {
  const hosts = o.hostsFile === undefined ? undefined : new HostsFile(o.hostsFile);
  let warned = false;
  return (config) => {
    if (!warned && config.listeners.some((l) => l.interception !== undefined)) {
      try {
        loadOriginalDstAddon();
      } catch (err) {
        warned = true;
        const e = err as Error & { code?: string };
        o.log.warn({ code: e.code }, `${e.message}; redirected connections are served as explicit ones`);
      }
    }
    if (hosts === undefined) return;
    try {
      if (hosts.update(config.dns))
        o.log.info({ file: hosts.path, addresses: config.dns?.hosts.length ?? 0 }, 'mesh names written');
    } catch (err) {
      o.log.error({ err, file: hosts.path }, 'could not write the mesh names into the hosts file');
    }
  };
}
