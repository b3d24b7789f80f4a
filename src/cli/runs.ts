// Reading runs from the state dir for `runs list|show|resume`.
import fs from 'node:fs';
import path from 'node:path';
import { InputError, LockedError } from '../runbook/errors.js';
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
    // the guard of a killed run holds its lock for seconds while it starts the services again: the run is not running
    status = holder && holder.runId === plan.runId && !holder.guard && pidAlive(holder.pid) ? 'running' : 'interrupted';
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

export interface PruneOptions {
  /** Remove runs that ended longer ago than this (ms). */
  olderThanMs: number;
  /** Also remove failed and interrupted runs (they can still be resumed). */
  all?: boolean;
  /** Also remove the safety dumps a run kept (a restore's <run>/safety): they may be the only copy of a database. */
  safetyDumps?: boolean;
  dryRun?: boolean;
  now?: Date;
}

export interface PruneResult {
  removed: Array<{ runId: string; status: RunStatus; endedAt: string; bytes: number }>;
  kept: Array<{ runId: string; reason: string }>;
  bytes: number;
  dryRun: boolean;
}

/** "30d", "12h", "2w" → milliseconds; anything else is bad input. */
export function parseAge(text: string): number {
  const m = /^(\d+)\s*([hdw])$/i.exec(text.trim());
  if (!m || Number(m[1]) === 0) throw new InputError(`--older-than ${JSON.stringify(text)} is not an age`, 'give a number and a unit: 12h, 30d or 8w');
  return Number(m[1]) * { h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2].toLowerCase() as 'h' | 'd' | 'w'];
}

function treeBytes(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, e) => n + treeBytes(path.join(p, e)), 0);
}

/**
 * Remove old run folders by rule. Kept whatever the age: a run still going, a run that can be resumed (failed,
 * interrupted) unless `all`, and a run holding safety dumps unless `safetyDumps`.
 */
export function pruneRuns(stateDir: string, o: PruneOptions): PruneResult {
  const cutoff = (o.now ?? new Date()).getTime() - o.olderThanMs;
  const out: PruneResult = { removed: [], kept: [], bytes: 0, dryRun: !!o.dryRun };
  for (const r of listRuns(stateDir)) {
    const dir = runDir(stateDir, r.runId);
    const j = new RunJournal(dir, new Redactor());
    const endedAt = j.events().at(-1)?.ts ?? r.createdAt;
    if (Date.parse(endedAt) > cutoff) continue;
    if (r.status === 'running') {
      out.kept.push({ runId: r.runId, reason: 'still running' });
      continue;
    }
    if (r.status !== 'succeeded' && !o.all) {
      out.kept.push({ runId: r.runId, reason: `${r.status}: it can be resumed (qsadmin runs resume ${r.runId}); --all removes it` });
      continue;
    }
    const safety = path.join(dir, 'safety');
    if (fs.existsSync(safety) && fs.readdirSync(safety).length && !o.safetyDumps) {
      out.kept.push({ runId: r.runId, reason: `it holds safety dumps (${safety}); --safety-dumps removes them` });
      continue;
    }
    const bytes = treeBytes(dir);
    if (!o.dryRun) fs.rmSync(dir, { recursive: true, force: true });
    out.removed.push({ runId: r.runId, status: r.status, endedAt, bytes });
    out.bytes += bytes;
  }
  return out;
}

/** The steps of a restore that leave the site as it was: services running, only new names written, checks. */
const RESTORE_BEFORE_CHANGE = /^restore\.(preflight|services\.before|db\.roles|db\.create|safety\.|db\.load\.|share\.stage\.|check\.restored$)/;

export interface UnfinishedRestore {
  run: RunSummary;
  /** The step it stopped at (the last one started). */
  step: string;
}

/**
 * The newest restore of a site (by its lock key) when it stopped, killed or failed, after it began to change the
 * site (a service stopped, something swapped in): the site may be half restored. Null when the newest restore
 * finished, is still running (it holds the lock), or stopped before it changed anything.
 */
export function unfinishedRestore(stateDir: string, lockKey: string): UnfinishedRestore | null {
  // Every backup asks: only plans are read, and only the newest restore's journal (listRuns would read every journal).
  const dir = runsDir(stateDir);
  let last: { j: RunJournal; plan: Plan } | undefined;
  for (const id of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const j = new RunJournal(path.join(dir, id), new Redactor());
    let plan: Plan;
    try {
      if (!j.exists()) continue;
      plan = j.plan();
    } catch {
      continue; // an unreadable plan, as listRuns skips it
    }
    if (plan.runbook === 'restore' && (plan.lockKey ?? plan.site) === lockKey && (!last || plan.createdAt > last.plan.createdAt)) last = { j, plan };
  }
  if (!last) return null;
  const newest = summarize(stateDir, last.j);
  if (newest.status === 'succeeded' || newest.status === 'running') return null;
  const recs = [...last.j.stepRecords().values()];
  const changed = recs.some((r) => ['running', 'succeeded', 'failed'].includes(r.status) && !RESTORE_BEFORE_CHANGE.test(r.id));
  if (!changed) return null;
  const at = recs.filter((r) => r.status === 'running' || r.status === 'failed').at(-1) ?? recs.at(-1)!;
  return { run: newest, step: at.id };
}

/**
 * Refuse a run that reads the site as it is (a backup) while a restore of it is unfinished (unfinishedRestore):
 * a set of a half-restored site, counted by retention, could push out the good sets. `ignore` is the run id the
 * operator named to go on anyway (the site was made whole by other means).
 */
export function refuseAfterUnfinishedRestore(stateDir: string, lockKey: string, ignore?: string): void {
  const u = unfinishedRestore(stateDir, lockKey);
  if (!u || u.run.runId === ignore) return;
  throw new LockedError(
    `restore ${u.run.runId} of this site (started ${u.run.createdAt}) stopped at ${u.step}, ${u.run.status} after ${u.run.stepsDone} of ${u.run.stepsTotal} steps, once it had begun to change the site: the site may be half restored, and a backup now would keep that state; nothing was changed`,
    `finish it first: qsadmin runs resume ${u.run.runId} --yes (qsadmin runs show ${u.run.runId} says where it stopped and what it left); if the site was made whole by other means, add --ignore-unfinished-restore ${u.run.runId}`,
  );
}
