// Running Qlik_Sense_setup.exe or Qlik_Sense_update.exe on a node and reading its outcome for the operator: the
// exit code through the §8.11 table (normalised first), the failing package and the last error lines of its log.
// Codes of checks setup makes before it changes anything are refusals: the node is as it was, which the caller may
// report as bad input (exit 2).
import type { Host } from '../host/types.js';
import { describeSetupExit, normaliseExitCode } from './exit-codes.js';
import { scanSetupLog } from './setup-log.js';

/** Exit codes of the checks setup makes before it changes anything (the emulator's assumptions follow the same list). */
export const REFUSAL_CODES = [-2, -4, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16, -18, -19, -20, -21, -22, -24, -1601, -1602];

export interface SetupOutcome {
  code: number;
  /** Several lines: the code and its meaning, the failing component, the last log errors, the log's path. */
  detail: string;
  refusal: boolean;
}

/** Run the setup (or update) file with its arguments; returns the outcome (code 0: success). */
export async function runSetupFile(h: Host, file: string, args: string[], o: { logFile: string; redact: (s: string) => string; timeoutMs?: number }): Promise<SetupOutcome> {
  const r = await h.exec(file, args, { timeoutMs: o.timeoutMs ?? 2 * 3600_000 });
  const code = normaliseExitCode(r.exitCode);
  if (code === 0) return { code, detail: `exited 0 (Success)`, refusal: false };
  const log = await h.files.read(o.logFile).then((b) => b.toString('utf8'), () => '');
  const found = scanSetupLog(log);
  const detail = [
    `exited ${code} (${describeSetupExit(code).meaning}, guide §8.11)`,
    found.packages.length ? `failing component: ${found.packages.join(', ')}` : null,
    ...found.errors.slice(-3).map((l) => `log: ${o.redact(l)}`),
    !found.errors.length && (r.stderr || r.stdout).trim() ? `output: ${o.redact((r.stderr || r.stdout).trim().split('\n').slice(-2).join(' '))}` : null,
    `log file: ${o.logFile}`,
  ].filter(Boolean).join('\n');
  return { code, detail, refusal: REFUSAL_CODES.includes(code) };
}
