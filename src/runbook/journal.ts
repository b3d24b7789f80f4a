// The run directory: plan.json, journal.jsonl (one line per event), outputs.json (atomic), run.log.
import fs from 'node:fs';
import path from 'node:path';
import { appendLineSync, readJson, writeFileAtomic } from './fsutil.js';
import type { Redactor } from './redact.js';

export interface PlanStep {
  id: string;
  title: string;
  node?: string;
  group?: string;
  destructive?: boolean;
  always?: boolean;
}

export interface Plan {
  runId: string;
  runbook: string;
  site: string;
  /** The site lock's key (lock.ts); absent in plans written before it existed: then the site. */
  lockKey?: string;
  createdAt: string;
  /** Inputs of the run with secrets removed; resume rebuilds the runbook from them. */
  inputs: Record<string, unknown>;
  steps: PlanStep[];
  /** Lines the plan printer shows before the steps (e.g. "share snapshot: hard links"). */
  notes?: string[];
  toolVersion?: string;
}

// interrupt: a signal came (the steps in hand go on); run-interrupt: the run ended because of it, between steps;
// run-abort: a second signal ended it at once, mid-step; guard-start: after the process died, the guard started the
// services it had stopped (kill-recovery.ts).
export type JournalEventType =
  | 'run-start' | 'run-finish' | 'run-fail' | 'run-interrupt' | 'run-abort' | 'interrupt' | 'start' | 'finish' | 'fail' | 'skip' | 'undo' | 'guard-start';

export interface JournalEvent {
  ts: string;
  event: JournalEventType;
  step?: string;
  pid?: number;
  attempt?: number;
  durationMs?: number;
  reason?: string;
  error?: string;
  /** guard-start: the services ("node/service") the guard of a killed run started again. */
  services?: string[];
}

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StepRecord {
  id: string;
  status: StepStatus;
  durationMs?: number;
  reason?: string;
  error?: string;
}

/** One run's files, written durably so that a killed process can be resumed. */
export class RunJournal {
  readonly planFile: string;
  readonly journalFile: string;
  readonly outputsFile: string;
  readonly logFile: string;

  constructor(
    readonly dir: string,
    private readonly redactor: Redactor,
  ) {
    this.planFile = path.join(dir, 'plan.json');
    this.journalFile = path.join(dir, 'journal.jsonl');
    this.outputsFile = path.join(dir, 'outputs.json');
    this.logFile = path.join(dir, 'run.log');
  }

  /** Create the run directory and write the plan (secrets removed). */
  create(plan: Plan): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.planFile, JSON.stringify(this.redactor.value(plan), null, 2) + '\n');
    if (!fs.existsSync(this.outputsFile)) writeFileAtomic(this.outputsFile, '{}\n');
  }

  exists(): boolean {
    return fs.existsSync(this.planFile);
  }

  plan(): Plan {
    return readJson<Plan>(this.planFile);
  }

  /** Append one event, redacted (written before returning; fsync'd soon, see fsutil). */
  record(e: Omit<JournalEvent, 'ts'>): void {
    const line = JSON.stringify(this.redactor.value({ ts: new Date().toISOString(), pid: process.pid, ...e }));
    appendLineSync(this.journalFile, line);
  }

  events(): JournalEvent[] {
    if (!fs.existsSync(this.journalFile)) return [];
    const lines = fs.readFileSync(this.journalFile, 'utf8').split('\n');
    const out: JournalEvent[] = [];
    for (const l of lines) {
      if (!l.trim()) continue;
      try {
        out.push(JSON.parse(l) as JournalEvent);
      } catch {
        // A line torn by a crash mid-write is the last one: ignore it, the step will be re-checked.
      }
    }
    return out;
  }

  outputs(): Record<string, unknown> {
    return fs.existsSync(this.outputsFile) ? readJson<Record<string, unknown>>(this.outputsFile) : {};
  }

  /** Replace outputs.json atomically (temp file + rename). Values must already be free of secrets. */
  writeOutputs(o: Record<string, unknown>): void {
    writeFileAtomic(this.outputsFile, JSON.stringify(this.redactor.value(o), null, 2) + '\n', 0o600, 'soon');
  }

  /** Append a redacted, timestamped line to run.log. */
  log(line: string): void {
    fs.appendFileSync(this.logFile, `${new Date().toISOString()} ${this.redactor.text(line)}\n`, { mode: 0o600 });
  }

  /** The last known state of every step, from the journal. */
  stepRecords(): Map<string, StepRecord> {
    const m = new Map<string, StepRecord>();
    for (const e of this.events()) {
      if (!e.step) continue;
      const r: StepRecord = m.get(e.step) ?? { id: e.step, status: 'pending' };
      if (e.event === 'start') Object.assign(r, { status: 'running', error: undefined, reason: undefined });
      else if (e.event === 'finish') Object.assign(r, { status: 'succeeded', durationMs: e.durationMs });
      else if (e.event === 'fail') Object.assign(r, { status: 'failed', durationMs: e.durationMs, error: e.error });
      else if (e.event === 'skip') Object.assign(r, { status: 'skipped', reason: e.reason });
      m.set(e.step, r);
    }
    return m;
  }

  /** succeeded / failed / interrupted (by a signal) / incomplete (running, or killed) from the run-level events. */
  runStatus(): 'succeeded' | 'failed' | 'interrupted' | 'incomplete' {
    const runLevel = new Set<JournalEventType>(['run-start', 'run-finish', 'run-fail', 'run-interrupt', 'run-abort']);
    const ev = this.events().filter((e) => runLevel.has(e.event));
    const last = ev[ev.length - 1];
    if (!last || last.event === 'run-start') return 'incomplete';
    if (last.event === 'run-finish') return 'succeeded';
    return last.event === 'run-fail' ? 'failed' : 'interrupted';
  }
}
