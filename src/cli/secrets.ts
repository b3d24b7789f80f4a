// Secrets come from an environment variable or, on a TTY only, a prompt; never from argv.
import { InputError } from '../runbook/errors.js';

export interface SecretSpec {
  /** What it is, for messages: "PFX password". */
  label: string;
  /** Environment variable that supplies it. */
  env: string;
  /** Flag that names another variable, if any (e.g. --cert-password-env). */
  flag?: string;
}

/** Read a secret from its variable, else prompt on a TTY, else fail with exit 2 naming the variable. */
export async function readSecret(spec: SecretSpec, interactive = !!process.stdin.isTTY && !!process.stderr.isTTY && !process.env.CI): Promise<string> {
  const v = process.env[spec.env];
  if (v) return v;
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
