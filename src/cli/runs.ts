// Reading runs from the state dir for `runs list|show|resume`.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import { RunJournal, type Plan, type StepRecord } from '../runbook/journal.js';
import { lockFile, pidAlive, readLock } from '../runbook/lock.js';
import { Redactor } from '../runbook/redact.js';
import { runDir, runsDir } from '../runbook/state.js';

export type RunStatus = 'succeeded' | 'failed' | 'running' | 'interrupted';

export interface RunSummary {
  runId: string;
  runbook: string;
  site: string;
  createdAt: string;
  status: RunStatus;
  stepsDone: number;
  stepsTotal: number;
}

export interface RunDetails extends RunSummary {
  steps: Array<StepRecord & { title: string; node?: string }>;
  outputs: Record<string, unknown>;
  logFile: string;
  logTail: string[];
}

/** The plan of a run, or an InputError naming the state dir searched. */
export function readPlan(stateDir: string, runId: string): Plan {
  const j = new RunJournal(runDir(stateDir, runId), new Redactor());
  if (!j.exists()) throw new InputError(`no run ${runId} in ${runsDir(stateDir)}`, 'list runs with `qsadmin runs list` (and the same --state-dir)');
  return j.plan();
}

function summarize(stateDir: string, j: RunJournal): RunSummary {
  const plan = j.plan();
  const recs = j.stepRecords();
  let status: RunStatus;
  const s = j.runStatus();
  if (s === 'incomplete') {
    const holder = readLock(lockFile(plan.lockKey ?? plan.site));
    status = holder && holder.runId === plan.runId && pidAlive(holder.pid) ? 'running' : 'interrupted';
  } else status = s;
  const done = plan.steps.filter((p) => ['succeeded', 'skipped'].includes(recs.get(p.id)?.status ?? '')).length;
  return { runId: plan.runId, runbook: plan.runbook, site: plan.site, createdAt: plan.createdAt, status, stepsDone: done, stepsTotal: plan.steps.length };
}

/** Every run in the state dir, newest first. */
export function listRuns(stateDir: string): RunSummary[] {
  const dir = runsDir(stateDir);
  if (!fs.existsSync(dir)) return [];
  const out: RunSummary[] = [];
  for (const id of fs.readdirSync(dir)) {
    const j = new RunJournal(path.join(dir, id), new Redactor());
    if (!j.exists()) continue;
    try {
      out.push(summarize(stateDir, j));
    } catch {
      // an unreadable plan: skip it rather than fail the listing
    }
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** One run in detail. */
export function showRun(stateDir: string, runId: string): RunDetails {
  readPlan(stateDir, runId);
  const j = new RunJournal(runDir(stateDir, runId), new Redactor());
  const plan = j.plan();
  const recs = j.stepRecords();
  const log = fs.existsSync(j.logFile) ? fs.readFileSync(j.logFile, 'utf8').trimEnd().split('\n') : [];
  return {
    ...summarize(stateDir, j),
    steps: plan.steps.map((p) => ({ ...(recs.get(p.id) ?? { id: p.id, status: 'pending' as const }), title: p.title, node: p.node })),
    outputs: j.outputs(),
    logFile: j.logFile,
    logTail: log.slice(-20),
  };
}
