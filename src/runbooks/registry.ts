// Runbooks by name: commands build them from flags, `runs resume` rebuilds them from a plan's inputs.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../runbook/errors.js';
import type { Runbook, StepContext } from '../runbook/step.js';

export interface BuildEnv {
  stateDir: string;
  /** Prompts are allowed (a TTY is attached). */
  interactive: boolean;
  /** --dry-run: a refusal that only a run-time flag (--yes) would lift becomes a note on the plan. */
  dryRun?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RunbookBuilder = (inputs: any, env: BuildEnv) => Promise<Runbook<any>>;

type Loader = () => Promise<RunbookBuilder>;

// Built-in runbooks, loaded only when used (keeps CLI start-up fast).
const BUILTIN: Record<string, Loader> = {};

/** Register a built-in runbook (called by the runbook modules' index). */
export function registerRunbook(name: string, loader: Loader): void {
  BUILTIN[name] = loader;
}

/** The names of the built-in runbooks (the reliability suite's crash matrix covers each one). */
export async function builtinRunbooks(): Promise<string[]> {
  await import('./catalog.js');
  return Object.keys(BUILTIN).sort();
}

/** Extra runbook modules named in QSADMIN_RUNBOOK_MODULES (comma-separated paths), e.g. test fixtures. */
async function extraModules(): Promise<Record<string, RunbookBuilder>> {
  const out: Record<string, RunbookBuilder> = {};
  for (const p of (process.env.QSADMIN_RUNBOOK_MODULES ?? '').split(',').filter(Boolean)) {
    const mod = (await import(pathToFileURL(path.resolve(p)).href)) as { runbooks?: Record<string, RunbookBuilder> };
    Object.assign(out, mod.runbooks ?? {});
  }
  return out;
}

/** The builder of a runbook by name, or a clear error listing the known ones. */
export async function builderFor(name: string): Promise<RunbookBuilder> {
  await import('./catalog.js');
  const loader = BUILTIN[name];
  if (loader) return loader();
  const extra = await extraModules();
  if (extra[name]) return extra[name];
  throw new InputError(`unknown runbook "${name}"`, `known runbooks: ${[...Object.keys(BUILTIN), ...Object.keys(extra)].sort().join(', ')}`);
}

export type { Runbook, StepContext };
