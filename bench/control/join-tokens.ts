// Join tokens for simulated proxies: one per service account, minted through the API with the admin
// token the first time a proxy of that account dials, then reused by every proxy of the account
// and on every reconnect (a token stays valid across control-plane restarts: it is in the store).
import { createJoinToken, type ControlApi } from './trellis.ts';

export class JoinTokenCache {
  private readonly api: ControlApi;
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(api: ControlApi) {
    this.api = api;
  }

  /** The token of `namespace/serviceAccount`; a failed mint is forgotten, so the next dial asks again. */
  get(namespace: string, serviceAccount: string): Promise<string> {
    const key = `${namespace}/${serviceAccount}`;
    let token = this.tokens.get(key);
    if (token === undefined) {
      token = createJoinToken(this.api, namespace, serviceAccount);
      this.tokens.set(key, token);
      token.catch(() => {
        if (this.tokens.get(key) === token) this.tokens.delete(key);
      });
    }
    return token;
  }

  /** How many service accounts have a token (or one being minted). */
  get size(): number {
    return this.tokens.size;
  }
}
