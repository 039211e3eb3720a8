// The join token a sidecar presents to the control plane: --join-token (or TRELLIS_JOIN_TOKEN), else
// one made now with the admin token (POST /api/v1/tokens), so `trellis up` then `trellis run` needs
// no extra step. A token made here is revoked when the workload stops, so they do not pile up.
import { setTimeout as sleep } from 'node:timers/promises';
import type { JoinTokenRecord } from '../identity/join-tokens.ts';
import { CliError, ControlApi, EXIT_UNREACHABLE } from './api-client.ts';
import type { ControlTarget } from './control-target.ts';
import type { WorkloadFlags } from './workload-options.ts';

export interface JoinTokenGrant {
  token: string;
  /** Revokes the token if it was made here (best effort: the control plane may be gone). */
  release(): Promise<void>;
}

/** How long a new workload waits for an unreachable control plane before giving up. */
const WAIT_FOR_CONTROL_MS = 60_000;

export async function obtainJoinToken(
  flags: Pick<WorkloadFlags, 'joinToken' | 'service' | 'serviceAccount' | 'namespace'>,
  target: ControlTarget,
  description: string,
  note: (message: string) => void,
  waitMs = WAIT_FOR_CONTROL_MS,
): Promise<JoinTokenGrant | undefined> {
  if (flags.joinToken !== undefined && flags.joinToken !== '')
    return { token: flags.joinToken, release: async () => {} };
  if (target.token === undefined) {
    note(
      'no join token (--join-token or TRELLIS_JOIN_TOKEN) and no admin token to make one (--token, TRELLIS_TOKEN or ./.trellis/admin-token): the control plane may refuse this sidecar',
    );
    return undefined;
  }
  const serviceAccount = flags.serviceAccount ?? flags.service;
  const api = new ControlApi(target);
  const body = JSON.stringify({ namespace: flags.namespace, serviceAccount, description });
  const deadline = Date.now() + waitMs;
  let created: { token: string; record: JoinTokenRecord } | undefined;
  for (let attempt = 0; created === undefined; attempt++) {
    try {
      created = await api.request('POST', '/api/v1/tokens', body, 'application/json');
    } catch (err) {
      const unreachable = err instanceof CliError && err.exitCode === EXIT_UNREACHABLE;
      if (unreachable && Date.now() < deadline) {
        if (attempt === 0)
          note(`waiting for the control plane at ${target.urls.join(', ')} to make a join token`);
        await sleep(Math.min(2000, 200 * 2 ** attempt));
        continue;
      }
      if (!(err instanceof CliError)) throw err;
      throw new CliError(
        err.code,
        `cannot make a join token for ${serviceAccount} in ${flags.namespace}: ${err.message}\n` +
          'Pass one with --join-token (trellis token create), or an admin token with --token.',
        err.exitCode,
      );
    }
  }
  const { token, record } = created;
  return {
    token,
    release: () =>
      api
        .request('DELETE', `/api/v1/tokens/${encodeURIComponent(record.id)}`, undefined, undefined, 2000)
        .then(
          () => {},
          () => {},
        ),
  };
}
