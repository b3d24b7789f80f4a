// Secrets come from an environment variable or, on a TTY only, a prompt; never from argv.
import { InputError } from '../runbook/errors.js';

export interface SecretSpec {
  /** What it is, for messages: "PFX password". */
  label: string;
  /** Environment variable that supplies it. */
  env: string;
  /** Flag that names another variable, if any (e.g. --cert-password-env). */
  flag?: string;
  /** Needed only when the steps run (a PFX password for an export), not to plan: a dry run does not ask for it. */
  runTimeOnly?: boolean;
}

// A dry run plans and changes nothing: a secret that only the steps need is not asked for, only listed.
let planning = false;
const notAsked: SecretSpec[] = [];

/** Turn plan-only mode on (RunbookCommand does for --dry-run). */
export function planOnly(on: boolean): void {
  planning = on;
}

/** The run-time secrets a dry run did not ask for, to show with the plan. */
export function secretsNotAsked(): SecretSpec[] {
  return [...notAsked];
}

/** What a dry run gets instead of a run-time secret it was not given (long enough for the length checks). */
export const NOT_ASKED_IN_DRY_RUN = '(not asked in a dry run)';

/** Read a secret from its variable, else prompt on a TTY, else fail with exit 2 naming the variable. */
export async function readSecret(spec: SecretSpec, interactive = !!process.stdin.isTTY && !!process.stderr.isTTY && !process.env.CI): Promise<string> {
  const v = process.env[spec.env];
  if (v) return v;
  if (planning && spec.runTimeOnly) {
    notAsked.push(spec);
    return NOT_ASKED_IN_DRY_RUN;
  }
  if (interactive) {
    const { password } = await import('@inquirer/prompts');
    const answer = await password({ message: `${spec.label}:`, mask: '*' }, { output: process.stderr });
    if (answer) return answer;
  }
  throw new InputError(
    `the ${spec.label} is missing`,
    `set the environment variable ${spec.env}${spec.flag ? ` (or name another variable with ${spec.flag})` : ''}; on a terminal you are asked for it`,
  );
}
