// Steps and runbooks as data: the engine runs them in order, journals them and resumes them.
import type { Redactor } from './redact.js';

/** What every step gets: the run's identity, its persisted outputs and a redacting log. */
export interface StepContext {
  runId: string;
  runDir: string;
  /** Values later steps need (persisted atomically in outputs.json; never secrets). */
  outputs: Outputs;
  /** Write a line to the run log (redacted) and, with --verbose, to the task list. */
  log(message: string): void;
  /**
   * Update the step's progress line. Throttled: on a terminal a few times a second; elsewhere (CI, a log file) a line
   * every few seconds, or when `fraction` (0..1, if the step knows it) crosses a tenth.
   */
  progress(message: string, fraction?: number): void;
  redactor: Redactor;
}

export interface Outputs {
  get<T = unknown>(key: string): T | undefined;
  /** Like get, but a missing value is an error naming the step that should have written it. */
  require<T = unknown>(key: string, writtenBy?: string): T;
  set(key: string, value: unknown): void;
  all(): Record<string, unknown>;
}

export interface Step<C extends StepContext = StepContext> {
  /** Stable, dotted and greppable, e.g. "db.dump.QSR"; used by the journal and --from/--only. */
  id: string;
  /** What the operator reads, like a line of the runbook. */
  title: string;
  /** Which node it acts on (multi-node runbooks). */
  node?: string;
  run(ctx: C): Promise<void>;
  /** true = already done; lets resume and re-runs skip safely. */
  check?(ctx: C): Promise<boolean>;
  /** Rollback of this step, where meaningful. */
  undo?(ctx: C): Promise<void>;
  /** Needs --yes or an interactive confirmation. */
  destructive?: boolean;
  /** Runs even after an earlier step failed (e.g. "start the services again"); the run still fails. */
  always?: boolean;
  /**
   * What a signal (Ctrl-C, SIGTERM, SIGHUP) means for this step when it has not started yet. By default it does not
   * run: the run stops between steps. 'run': it still runs, because it puts the site back (start the services).
   * { after: id }: it belongs to a section that must not be left half done (remove certificates ... import them,
   * swap the databases ... swap the share): it still runs once the section's first step `id` has started.
   */
  onInterrupt?: 'run' | { after: string };
}

/** Steps that belong together, e.g. one per node; run in parallel when the runbook says so. */
export interface StepGroup<C extends StepContext = StepContext> {
  group: string;
  title: string;
  parallel?: boolean;
  steps: Step<C>[];
}

export type RunbookItem<C extends StepContext> = Step<C> | StepGroup<C>;

export interface Runbook<C extends StepContext = StepContext> {
  /** Registry name, e.g. "backup.create"; resume rebuilds the runbook from it and the inputs. */
  name: string;
  /** The site, as the operator knows it (its config path or name). */
  site: string;
  /**
   * What identifies the site for its lock, when it is more than the config path (the central hostname and the
   * database endpoint): two config files or state dirs for one site must exclude each other. Default: site.
   */
  lockKey?: string;
  /** Inputs that rebuild this runbook on resume (secrets are removed before they are written). */
  inputs: Record<string, unknown>;
  /** Secret values to redact everywhere (passwords from env or prompts). */
  secrets?: Array<string | undefined>;
  /** Lines shown above the plan (choices the runbook made, e.g. how the share is snapshotted). */
  notes?: string[];
  items: RunbookItem<C>[];
  /** Build the runbook's own context from the engine's. */
  context(base: StepContext): Promise<C> | C;
  /** The human result for stdout after a run (not a dry run): what was done, what was kept and where. */
  report?(result: import('./runner.js').RunResult): string;
  /** Release what the context opened (connections, sessions), success or not. */
  dispose?(ctx: C): Promise<void>;
  /** Release what building the runbook opened (host sessions it planned with); called once, dry runs included. */
  close?(): Promise<void>;
  /**
   * Services to start again if the process dies (SIGKILL, a crash, an OOM kill) between stopping and starting them:
   * qsadmin's guard process does it (kill-recovery.ts), so that a killed run leaves the site running, then resumable.
   * Only for runbooks whose stopped services can start on the state as it is at any moment (backup: nothing it does
   * changes the site); a restore or an import must be resumed instead.
   */
  killGuard?: KillGuard;
}

/** What the guard needs to start a killed run's services again, without the runbook (and without any secret). */
export interface KillGuard {
  /** The site config file (the guard opens the nodes' hosts from it). */
  sitePath: string;
  /** In start order: a service whose stop step began and whose start step did not finish is started again. */
  services: Array<{ node: string; service: string; stopStep: string; startStep: string }>;
}

export function isGroup<C extends StepContext>(item: RunbookItem<C>): item is StepGroup<C> {
  return (item as StepGroup<C>).group !== undefined;
}

/** Every step in plan order, with the group it belongs to. */
export function flattenSteps<C extends StepContext>(items: RunbookItem<C>[]): Array<{ step: Step<C>; group?: StepGroup<C> }> {
  const out: Array<{ step: Step<C>; group?: StepGroup<C> }> = [];
  for (const item of items) {
    if (isGroup(item)) for (const step of item.steps) out.push({ step, group: item });
    else out.push({ step: item });
  }
  const seen = new Set<string>();
  for (const { step } of out) {
    if (seen.has(step.id)) throw new Error(`duplicate step id ${step.id}: step ids must be unique in a runbook`);
    seen.add(step.id);
  }
  return out;
}
