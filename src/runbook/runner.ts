// The runner: takes the lock, journals every step, skips what is done, resumes what was interrupted.
import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';
import { InputError, QsadminError, StepFailedError, errorMessage, exitCodeOf, EXIT, type ExitCode } from './errors.js';
import { RunJournal, type Plan, type StepRecord } from './journal.js';
import { flushSyncs } from './fsutil.js';
import { Interruption, SIGNAL_EXIT, type RunSignal } from './interrupt.js';
import { clearGuardRecovery, guardRecovery, killChildren } from './children.js';
import { acquireLock, lockDir } from './lock.js';
import { Redactor } from './redact.js';
import { newRunId, runDir } from './state.js';
import { flattenSteps, isGroup, type Outputs, type Runbook, type Step, type StepContext, type StepGroup } from './step.js';

export type RendererChoice = 'default' | 'simple' | 'verbose' | 'silent';

export interface RunOptions {
  stateDir: string;
  dryRun?: boolean;
  yes?: boolean;
  /** Resume this run id instead of starting a new run. */
  resume?: string;
  renderer?: RendererChoice;
  /** Asked before destructive steps when --yes is absent; absent (no TTY) means refuse. */
  confirm?: (message: string) => Promise<boolean>;
  toolVersion?: string;
  /** The lock folder; default: the machine-wide one (lock.ts). */
  lockDir?: string;
}

export interface StepResult {
  id: string;
  title: string;
  node?: string;
  status: 'succeeded' | 'failed' | 'skipped' | 'not-run' | 'planned';
  durationMs?: number;
  reason?: string;
  error?: string;
}

export interface RunResult {
  runId: string;
  runbook: string;
  site: string;
  /** interrupted: a signal stopped the run between steps (exit 130/143/129); it can be resumed. */
  status: 'succeeded' | 'failed' | 'planned' | 'interrupted';
  /** Set when `resume` found the run already finished: nothing was run or checked. */
  alreadyFinished?: { finishedAt?: string };
  exitCode: ExitCode;
  runDir?: string;
  notes?: string[];
  steps: StepResult[];
  outputs: Record<string, unknown>;
  error?: { message: string; hint?: string; step?: string };
}

/** What the site lock is keyed by: the site's identity when the runbook knows it, else its config path. */
function siteKey(rb: Pick<Runbook, 'lockKey' | 'site'>): string {
  return rb.lockKey ?? rb.site;
}

/** The plan of a runbook: ordered step ids with titles, nodes and groups. */
export function buildPlan<C extends StepContext>(rb: Runbook<C>, runId: string, redactor: Redactor, toolVersion?: string): Plan {
  return redactor.value({
    runId,
    runbook: rb.name,
    site: rb.site,
    lockKey: siteKey(rb),
    createdAt: new Date().toISOString(),
    inputs: rb.inputs,
    notes: rb.notes,
    toolVersion,
    steps: flattenSteps(rb.items).map(({ step, group }) => ({
      id: step.id,
      title: step.title,
      node: step.node,
      group: group?.group,
      destructive: step.destructive || undefined,
      always: step.always || undefined,
    })),
  });
}

class JournalOutputs implements Outputs {
  constructor(
    private readonly journal: RunJournal,
    private readonly values: Record<string, unknown>,
  ) {}
  get<T>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }
  require<T>(key: string, writtenBy?: string): T {
    if (!(key in this.values)) throw new Error(`output "${key}" is missing${writtenBy ? `: step ${writtenBy} should have written it` : ''}`);
    return this.values[key] as T;
  }
  set(key: string, value: unknown): void {
    this.values[key] = value;
    this.journal.writeOutputs(this.values);
  }
  all(): Record<string, unknown> {
    return { ...this.values };
  }
}

/** Run (or resume, or only plan) a runbook. Never throws for a failed step: the result says so. */
export async function runRunbook<C extends StepContext>(rb: Runbook<C>, opts: RunOptions): Promise<RunResult> {
  try {
    return await runOrPlan(rb, opts);
  } finally {
    await rb.close?.().catch(() => undefined);
  }
}

async function runOrPlan<C extends StepContext>(rb: Runbook<C>, opts: RunOptions): Promise<RunResult> {
  const redactor = new Redactor(rb.secrets ?? []);
  const runId = opts.resume ?? newRunId(rb.name);
  const dir = runDir(opts.stateDir, runId);
  const journal = new RunJournal(dir, redactor);
  const plan = buildPlan(rb, runId, redactor, opts.toolVersion);
  const flat = flattenSteps(rb.items);

  if (opts.dryRun) {
    return {
      runId,
      runbook: rb.name,
      site: rb.site,
      status: 'planned',
      exitCode: EXIT.ok,
      notes: rb.notes,
      steps: flat.map(({ step }) => ({ id: step.id, title: step.title, node: step.node, status: 'planned' })),
      outputs: {},
    };
  }

  if (opts.resume) {
    assertResumable(journal, plan);
    // A finished run is never replayed: no lock, no context, no check (a check may have side effects).
    const finished = finishedRun(journal);
    if (finished) return finished;
  }
  await confirmDestructive(flat.map((f) => f.step), journal, opts);

  const lockNotes: string[] = [];
  const release = acquireLock(siteKey(rb), runId, { dir: opts.lockDir, log: (m) => lockNotes.push(m) });
  let ctx: C | undefined;
  const results = new Map<string, StepResult>();
  let firstError: { err: unknown; step?: string } | undefined;
  let notRunReason = () => 'not reached';
  const inHand = new Set<string>();
  const interruption = new Interruption(
    (sig) => {
      journal.record({ event: 'interrupt', reason: sig, step: [...inHand].join(',') || undefined });
      journal.log(`${sig} received: no new step starts; the steps in hand (${[...inHand].join(', ') || 'none'}) finish, then the steps that restore the site run`);
      process.stderr.write(
        `\nqsadmin: ${sig} received. Finishing the step in hand (${[...inHand].join(', ') || 'none'}), then starting the services again; ` +
          `${sig === 'SIGINT' ? 'press Ctrl-C again' : 'send it again'} to abort at once.\n`,
      );
    },
    (sig) => abortNow(sig, journal, runId, [...inHand], flat.map((f) => f.step).filter((s) => s.always && !results.has(s.id)).map((s) => s.id), !!rb.killGuard),
  );
  interruption.install();
  try {
    if (!opts.resume) journal.create(plan);
    for (const m of lockNotes) journal.log(m);
    const previous = journal.stepRecords();
    journal.record({ event: 'run-start', reason: opts.resume ? 'resume' : 'new run' });
    journal.log(`${opts.resume ? 'resuming' : 'starting'} ${rb.name} run ${runId}`);
    // should this process die before the run ends, its guard starts the services the run stopped (kill-recovery.ts)
    if (rb.killGuard && !guardRecovery({ runId, pid: process.pid, runDir: dir, lockKey: siteKey(rb), lockDir: opts.lockDir ?? lockDir(), sitePath: path.resolve(rb.killGuard.sitePath), services: rb.killGuard.services })) {
      journal.log('no guard process: if this run is killed while services are stopped, they stay stopped until it is resumed');
    }

    // Each step's log and progress go to its own task: parallel steps run at once (a shared "current task" made a
    // step write into a sister task that the renderer had already finished and discarded).
    const taskOf = new AsyncLocalStorage<StepTask>();
    const progressEvery = opts.renderer === 'default' ? 200 : PROGRESS_INTERVAL_MS;
    const base: StepContext = {
      runId,
      runDir: dir,
      outputs: new JournalOutputs(journal, journal.outputs()),
      redactor,
      log: (m) => {
        journal.log(m);
        if (opts.renderer === 'verbose') taskOf.getStore()?.show(redactor.text(m));
      },
      progress: (m, fraction) => {
        const t = taskOf.getStore();
        if (t?.due(progressEvery, fraction)) t.show(redactor.text(m));
      },
    };
    ctx = await rb.context(base);
    const runCtx = ctx;

    const state = { failed: false };
    const begun = new Set([...previous.values()].filter((r) => r.status !== 'pending').map((r) => r.id));
    const goesOnAfterInterrupt = (step: Step<C>) =>
      step.onInterrupt === 'run' || (typeof step.onInterrupt === 'object' && begun.has(step.onInterrupt.after));
    const stopped = (step: Step<C>) => !step.always && (state.failed || (interruption.requested && !goesOnAfterInterrupt(step)));
    notRunReason = () => (interruption.requested ? `interrupted by ${interruption.signal}` : 'an earlier step failed');
    const execStep = async (step: Step<C>, task: ListrTask) => {
      const prior = previous.get(step.id);
      if (stopped(step)) {
        results.set(step.id, { id: step.id, title: step.title, node: step.node, status: 'not-run', reason: notRunReason() });
        task.skip(`${step.title} (not run: ${notRunReason()})`);
        return;
      }
      const st = new StepTask(task);
      await taskOf.run(st, async () => {
        try {
          const skipReason = await decideSkip(step, runCtx, prior);
          if (skipReason) {
            journal.record({ event: 'skip', step: step.id, reason: skipReason });
            journal.log(`skip ${step.id}: ${skipReason}`);
            results.set(step.id, { id: step.id, title: step.title, node: step.node, status: 'skipped', reason: skipReason });
            task.skip(`${step.title} (${skipReason})`);
            return;
          }
          const started = Date.now();
          journal.record({ event: 'start', step: step.id });
          journal.log(`start ${step.id}: ${step.title}`);
          inHand.add(step.id);
          begun.add(step.id);
          armFault(step.id);
          try {
            await step.run(runCtx);
          } catch (err) {
            const durationMs = Date.now() - started;
            const message = redactor.text(errorMessage(err));
            journal.record({ event: 'fail', step: step.id, durationMs, error: message });
            journal.log(`fail ${step.id} after ${durationMs} ms: ${message}`);
            results.set(step.id, { id: step.id, title: step.title, node: step.node, status: 'failed', durationMs, error: message });
            state.failed = true;
            firstError ??= { err, step: step.id };
            throw new Error(message);
          } finally {
            inHand.delete(step.id);
          }
          const durationMs = Date.now() - started;
          journal.record({ event: 'finish', step: step.id, durationMs });
          journal.log(`finish ${step.id} in ${durationMs} ms`);
          results.set(step.id, { id: step.id, title: step.title, node: step.node, status: 'succeeded', durationMs });
        } finally {
          st.close(); // later output of this step's stray callbacks goes nowhere, never into a finished task
        }
      });
    };

    // Steps that will not run are not shown at all: a page of them would bury the line that matters.
    await renderTasks(rb, execStep, opts.renderer ?? 'simple', (step) => !stopped(step));
  } catch (err) {
    firstError ??= { err };
  } finally {
    try {
      if (ctx && rb.dispose) await rb.dispose(ctx);
    } catch (err) {
      journal.log(`dispose failed: ${errorMessage(err)}`);
    }
    if (journal.exists()) {
      if (firstError) journal.record({ event: 'run-fail', step: firstError.step, error: redactor.text(errorMessage(firstError.err)) });
      else if (interruption.requested) journal.record({ event: 'run-interrupt', reason: interruption.signal });
      else journal.record({ event: 'run-finish' });
    }
    // The journal, outputs and parts were fsync'd in the background: the run is over when they are on disk.
    await flushSyncs();
    if (rb.killGuard) clearGuardRecovery();
    interruption.uninstall();
    release();
  }

  const outputs = journal.exists() ? redactor.value(journal.outputs()) : {};
  const steps: StepResult[] = flat.map(
    ({ step }) => results.get(step.id) ?? { id: step.id, title: step.title, node: step.node, status: 'not-run', reason: firstError || interruption.requested ? notRunReason() : undefined },
  );
  const resumeHint = `resume with: qsadmin runs resume ${runId}`;
  if (!firstError && interruption.requested) {
    return {
      runId, runbook: rb.name, site: rb.site, status: 'interrupted', exitCode: interruption.exitCode, runDir: dir, notes: rb.notes, steps, outputs,
      error: { message: `interrupted by ${interruption.signal}: the steps in hand finished, the steps that restore the site ran`, hint: resumeHint },
    };
  }
  if (!firstError) {
    return { runId, runbook: rb.name, site: rb.site, status: 'succeeded', exitCode: EXIT.ok, runDir: dir, notes: rb.notes, steps, outputs };
  }
  const wrapped = firstError.step ? new StepFailedError(firstError.step, firstError.err) : firstError.err;
  const hint =
    firstError.err instanceof QsadminError && firstError.err.hint
      ? firstError.err.hint
      : firstError.step
        ? `fix the cause, then ${resumeHint}`
        : undefined;
  return {
    runId,
    runbook: rb.name,
    site: rb.site,
    status: 'failed',
    // A signal that came while a step failed (often: because of it) still says how the run ended.
    exitCode: interruption.requested ? interruption.exitCode : exitCodeOf(wrapped),
    runDir: dir,
    notes: rb.notes,
    steps,
    outputs,
    error: { message: redactor.text(errorMessage(wrapped)), hint, step: firstError.step },
  };
}

/** Non-TTY progress: at most a line per step this often, or when it crosses a tenth of the way. */
export const PROGRESS_INTERVAL_MS = 5000;

type ListrTask = { output?: string; skip(msg?: string): void; title: string };

/** One step's task line: throttled progress, and nothing written once the step is over. */
class StepTask {
  private last = 0;
  private tenth = -1;
  private open = true;
  constructor(private readonly task: ListrTask) {}

  /** Whether a progress update is worth showing now. */
  due(everyMs: number, fraction?: number): boolean {
    if (!this.open) return false;
    const now = Date.now();
    const tenth = fraction === undefined ? -1 : Math.floor(Math.min(1, Math.max(0, fraction)) * 10);
    if (now - this.last < everyMs && !(tenth > this.tenth)) return false;
    this.last = now;
    if (tenth > this.tenth) this.tenth = tenth;
    return true;
  }

  show(text: string): void {
    if (!this.open) return;
    try {
      this.task.output = text;
    } catch {
      // the renderer is not ours to break a step with
    }
  }

  close(): void {
    this.open = false;
  }
}

/** The result of resuming a run that already succeeded, or null when it did not: read-only but for a log line. */
export function finishedRunResult(stateDir: string, runId: string): RunResult | null {
  const journal = new RunJournal(runDir(stateDir, runId), new Redactor());
  return journal.exists() ? finishedRun(journal) : null;
}

/** The result of resuming a run that already succeeded: what it was, when it ended; nothing touched. */
function finishedRun(journal: RunJournal): RunResult | null {
  if (journal.runStatus() !== 'succeeded') return null;
  const plan = journal.plan();
  const ended = [...journal.events()].reverse().find((e) => e.event === 'run-finish');
  const recs = journal.stepRecords();
  journal.log(`resume asked for run ${plan.runId}, which already succeeded${ended ? ` at ${ended.ts}` : ''}: nothing run`);
  return {
    runId: plan.runId,
    runbook: plan.runbook,
    site: plan.site,
    status: 'succeeded',
    exitCode: EXIT.ok,
    alreadyFinished: { finishedAt: ended?.ts },
    runDir: journal.dir,
    notes: plan.notes,
    steps: plan.steps.map((p) => {
      const r = recs.get(p.id);
      const status = r?.status === 'succeeded' || r?.status === 'skipped' || r?.status === 'failed' ? r.status : 'not-run';
      return { id: p.id, title: p.title, node: p.node, status, durationMs: r?.durationMs, reason: r?.reason };
    }),
    outputs: journal.outputs(),
  };
}

/** The second signal: stop now. Children die with their groups; the journal and the operator learn what is left. */
function abortNow(sig: RunSignal, journal: RunJournal, runId: string, inHand: string[], restoring: string[], guarded: boolean): never {
  const killed = killChildren('SIGKILL');
  journal.record({ event: 'run-abort', reason: sig, step: inHand.join(',') || undefined });
  journal.log(`${sig} again: aborted at once; cut off: ${inHand.join(', ') || 'none'}; not run: ${restoring.join(', ') || 'none'}`);
  const left = !restoring.length
    ? 'no step that restores the site was left to run'
    : guarded
      ? `the steps that restore the site did not run (${restoring.join(', ')}): qsadmin's guard process starts the services this run stopped (see run.log)`
      : `the steps that restore the site did not run (${restoring.join(', ')}): services stopped by this run stay stopped until you resume`;
  process.stderr.write(
    `\nqsadmin: aborted by a second ${sig}. Cut off: ${inHand.join(', ') || 'no step'}${killed ? ` (${killed} child process${killed > 1 ? 'es' : ''} killed)` : ''}; ` +
      `${left}.\nResume with: qsadmin runs resume ${runId}\n`,
  );
  process.exit(SIGNAL_EXIT[sig]);
}

/**
 * Fault injection for crash tests (QSADMIN_FAULT=kill:<step-id>:<ms>): the process kills itself with SIGKILL
 * <ms> after that step starts, i.e. inside the step. Off unless the variable is set.
 * With 0 ms the kill is at once, after the step's start is journaled and before any of its work: a timer, even of
 * 0 ms, let a step of a few milliseconds (a service already stopping) finish first and the kill land in the next one.
 */
function armFault(stepId: string): void {
  const spec = process.env.QSADMIN_FAULT;
  if (!spec) return;
  const [action, id, ms] = spec.split(':');
  if (action !== 'kill' || id !== stepId) return;
  if (Number(ms) > 0) setTimeout(() => process.kill(process.pid, 'SIGKILL'), Number(ms));
  else process.kill(process.pid, 'SIGKILL');
}

/** Why a step can be skipped, or null to run it (DESIGN: finished steps are skipped when their check holds). */
async function decideSkip<C extends StepContext>(step: Step<C>, ctx: C, prior: StepRecord | undefined): Promise<string | null> {
  if (prior?.status === 'succeeded' || prior?.status === 'skipped') {
    if (!step.check) return 'done in an earlier attempt';
    return (await step.check(ctx)) ? 'done in an earlier attempt; its check still holds' : null;
  }
  if (!step.check) return null;
  if (await step.check(ctx)) return prior?.status === 'running' ? 'interrupted, but its check shows it finished' : 'already done';
  return null;
}

/** A resumed run must be the same runbook with the same steps as the plan on disk. */
function assertResumable(journal: RunJournal, plan: Plan): void {
  if (!journal.exists()) throw new InputError(`no run ${plan.runId}`, "list runs with 'qsadmin runs list'");
  const old = journal.plan();
  if (old.runbook !== plan.runbook) throw new InputError(`run ${plan.runId} is a ${old.runbook} run, not ${plan.runbook}`);
  const a = old.steps.map((s) => s.id).join(',');
  const b = plan.steps.map((s) => s.id).join(',');
  if (a !== b) {
    throw new InputError(
      `run ${plan.runId} cannot be resumed: its steps differ from what this version of qsadmin plans for the same inputs`,
      'start a new run',
    );
  }
}

/** Destructive steps that will run need --yes, or a yes at an interactive prompt. */
async function confirmDestructive<C extends StepContext>(steps: Step<C>[], journal: RunJournal, opts: RunOptions): Promise<void> {
  if (opts.yes) return;
  const done = journal.exists() ? journal.stepRecords() : new Map<string, StepRecord>();
  const pending = steps.filter((s) => s.destructive && done.get(s.id)?.status !== 'succeeded');
  if (!pending.length) return;
  const list = pending.map((s) => `  - ${s.title}`).join('\n');
  if (!opts.confirm) {
    throw new InputError(`this run has destructive steps and needs confirmation:\n${list}`, 'pass --yes (or set QSADMIN_YES=1) to confirm');
  }
  if (!(await opts.confirm(`These steps change or remove data:\n${list}\nContinue?`))) {
    throw new InputError('cancelled at the confirmation prompt; nothing was changed');
  }
}

type ExecStep<C extends StepContext> = (step: Step<C>, task: ListrTask) => Promise<void>;

/** Render the runbook as a listr2 task list on stderr and execute it. */
async function renderTasks<C extends StepContext>(rb: Runbook<C>, exec: ExecStep<C>, renderer: RendererChoice, wanted: (s: Step<C>) => boolean): Promise<void> {
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2');
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) });
  const toTask = (step: Step<C>) => ({
    title: step.node ? `${step.title} [${step.node}]` : step.title,
    enabled: () => wanted(step),
    task: (_: unknown, task: ListrTask) => exec(step, task),
  });
  const tasks = rb.items.map((item) =>
    isGroup(item)
      ? {
          title: item.title,
          task: (_: unknown, task: { newListr: (t: unknown[], o: unknown) => unknown }) =>
            task.newListr((item as StepGroup<C>).steps.map(toTask), { concurrent: !!item.parallel, exitOnError: !item.parallel }),
        }
      : toTask(item as Step<C>),
  );
  const list = new Listr(tasks as never, {
    concurrent: false,
    exitOnError: false,
    // listr2's own handler exits 127 on SIGINT, with the services down: the runner handles signals (interrupt.ts).
    registerSignalListeners: false,
    renderer: renderer === 'default' ? 'default' : renderer,
    fallbackRenderer: 'simple',
    rendererOptions: { logger, processOutput: new ProcessOutput(process.stderr, process.stderr) } as never,
    fallbackRendererOptions: { logger } as never,
  } as never);
  await list.run();
}
