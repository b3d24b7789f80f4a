// Errors that carry the documented exit codes (README "Exit codes").

export const EXIT = {
  ok: 0,
  stepFailed: 1,
  badInput: 2,
  locked: 3,
  verificationFailed: 4,
  /** Stopped by a signal (128 + its number): SIGHUP, SIGINT (Ctrl-C), SIGTERM; the run can be resumed. */
  hangup: 129,
  interrupted: 130,
  terminated: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the operator can act on: what is wrong, where, and the fix. */
export class QsadminError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: a flag, file or site state that must be fixed before anything runs (exit 2). */
export class InputError extends QsadminError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.badInput, hint);
  }
}

/** Another run holds the site's lock (exit 3). */
export class LockedError extends QsadminError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.locked, hint);
  }
}

/** A check of what exists failed: checksum, certificate, row counts (exit 4). */
export class VerificationError extends QsadminError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.verificationFailed, hint);
  }
}

/** A step of a run failed (exit 1). */
export class StepFailedError extends QsadminError {
  constructor(
    readonly stepId: string,
    override readonly cause: unknown,
    hint?: string,
  ) {
    super(`step ${stepId} failed: ${errorMessage(cause)}`, causeExitCode(cause), hint);
  }
}

/** A step may throw InputError/VerificationError on purpose: keep their exit codes; anything else is 1. */
function causeExitCode(cause: unknown): ExitCode {
  if (cause instanceof QsadminError && cause.exitCode !== EXIT.ok) return cause.exitCode;
  return EXIT.stepFailed;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof QsadminError) return err.exitCode;
  return EXIT.stepFailed;
}
