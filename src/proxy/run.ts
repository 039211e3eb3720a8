import { TrellisError } from '../errors.ts';
import type { ProxyConfig } from '../model/schema.ts';

export interface RunOptions {
  configFile: string;
  config: ProxyConfig;
  workers: number;
}

// Interim: the data path lands in the following commits.
export async function runProxy(_opts: RunOptions): Promise<void> {
  throw new TrellisError('TRELLIS_UNAVAILABLE', 'the proxy data path is not in this build yet');
}
