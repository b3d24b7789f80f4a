// Run the compiled CLI as a real child process.
import { execa } from 'execa';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'run.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run `qsadmin <args>` and return its exit code and output (never throws for a non-zero exit). */
export async function qsadmin(args: string[], opts: { env?: Record<string, string>; input?: string; timeout?: number } = {}): Promise<CliResult> {
  const r = await execa('node', [BIN, ...args], {
    reject: false,
    // vitest sets NODE_ENV=test, which makes oclif look for TypeScript sources; run the CLI as users do.
    env: { QSADMIN_RENDERER: 'simple', CI: 'true', NODE_ENV: 'production', ...opts.env },
    input: opts.input,
    timeout: opts.timeout ?? 120_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Like qsadmin, with stdout parsed as JSON when it is (a --json run); json is undefined otherwise. */
export async function qsadminJson(args: string[], opts: { env?: Record<string, string>; input?: string; timeout?: number } = {}): Promise<CliResult & { json?: any }> {
  const r = await qsadmin(args, opts);
  let json;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}
