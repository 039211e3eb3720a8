// What /config_dump may show: everything but the private key, which never leaves the process.
import type { ProxyConfig } from '../model/schema.ts';

export function redactSecrets(config: ProxyConfig): ProxyConfig {
  const s = config.secrets;
  if (s?.privateKey === undefined) return config;
  return { ...config, secrets: { ...s, privateKey: '[redacted]' } };
}
