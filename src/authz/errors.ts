import { TrellisError } from '../errors.ts';

/** One thing wrong in an authorization policy, located by the policy's name and a path inside it. */
export interface AuthzProblem {
  policy: string;
  /** e.g. "rules[0].when[1].key" */
  path: string;
  message: string;
}

/**
 * Authorization policies that cannot be compiled (a bad CIDR, an unknown `when` key, …). Every
 * problem found is reported at once; no policy of the set is used, so a typo never opens a hole.
 */
export class AuthzConfigError extends TrellisError {
  readonly problems: AuthzProblem[];
  constructor(problems: AuthzProblem[]) {
    const detail = problems.map((p) => `${p.policy} ${p.path}: ${p.message}`).join('; ');
    super('TRELLIS_AUTHZ_INVALID', `invalid authorization policy: ${detail}`);
    this.problems = problems;
  }
}
