// `when` conditions: the keys of Istio's "Authorization Policy Conditions" page, each compiled to
// checks of `values` (any matches) and `notValues` (none matches). HTTP-only keys are marked so a
// TCP connection can treat them as Istio does (see engine.ts).
import type { AuthzCondition } from '../model/security.ts';
import {
  checksOf,
  clientIpCheck,
  ipCheck,
  peerIpCheck,
  peerNamespaceCheck,
  peerPrincipalCheck,
  portCheck,
  requestPrincipalCheck,
  stringCheck,
} from './checks.ts';
import type { Check, CheckBuilder, Reader } from './checks.ts';
import { stringPattern } from './patterns.ts';
import type { StringTest } from './patterns.ts';
import * as readers from './readers.ts';

export const SUPPORTED_KEYS = [
  'request.headers[<name>]',
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims[<name>]…',
  'destination.ip',
  'destination.port',
  'connection.sni',
];

const HEADER_KEY = /^request\.headers\[([^[\]]+)\]$/;
const CLAIMS_KEY = /^request\.auth\.claims((?:\[[^[\]]+\])+)$/;

/** Compiles one condition; throws an Error whose message is meant for the policy's author. */
export function compileCondition(cond: AuthzCondition, index: number): Check[] {
  const { key, values, notValues } = cond;
  if ((values === undefined || values.length === 0) && (notValues === undefined || notValues.length === 0))
    throw new Error(`condition "${key}" needs values or notValues`);
  const pair = {
    field: `when[${index}] ${key}`,
    notField: `when[${index}] ${key} (notValues)`,
    values,
    notValues,
  };
  const checks = (build: CheckBuilder): Check[] =>
    checksOf(pair, build, (_field, message) => {
      throw new Error(message);
    });
  const strings = (httpOnly: boolean, compile: (p: string) => StringTest, reader: Reader): Check[] =>
    checks(stringCheck(httpOnly, compile, reader));
  const plain = (p: string): StringTest => stringPattern(p);

  switch (key) {
    case 'source.ip':
      return checks(peerIpCheck);
    case 'remote.ip':
      return checks(clientIpCheck);
    case 'destination.ip':
      return checks(ipCheck((req) => req.destinationIp(), '(no destination address)'));
    case 'destination.port':
      return checks(portCheck);
    case 'source.namespace':
      return checks(peerNamespaceCheck);
    case 'source.principal':
      return checks(peerPrincipalCheck);
    case 'connection.sni':
      return strings(false, plain, readers.sni);
    case 'request.auth.principal':
      return checks(requestPrincipalCheck);
    case 'request.auth.audiences':
      return strings(true, plain, readers.claim(['aud'], 'aud'));
    case 'request.auth.presenter':
      return strings(true, plain, readers.claim(['azp'], 'azp'));
  }
  const headerKey = HEADER_KEY.exec(key);
  if (headerKey !== null) {
    const name = (headerKey[1] ?? '').toLowerCase();
    return strings(true, (p) => stringPattern(p, { starIsPresence: true }), readers.header(name));
  }
  const claimsKey = CLAIMS_KEY.exec(key);
  if (claimsKey !== null) {
    const path = (claimsKey[1] ?? '').slice(1, -1).split('][');
    return strings(true, plain, readers.claim(path, path.join('.')));
  }
  throw new Error(unknownKeyMessage(key));
}

function unknownKeyMessage(key: string): string {
  if (key.startsWith('request.headers') || key.startsWith('request.auth.claims'))
    return `bad key "${key}": should have the form ${key.startsWith('request.headers') ? 'request.headers[name]' : 'request.auth.claims[name][nested]…'}`;
  if (key.startsWith('experimental.envoy.filters.'))
    return `key "${key}" reads Envoy metadata, which Trellis does not have`;
  if (key === 'destination.namespace' || key.startsWith('destination.labels'))
    return `key "${key}" is not a condition: a policy applies to the workload it is attached to`;
  return `unknown key "${key}" (supported: ${SUPPORTED_KEYS.join(', ')})`;
}
