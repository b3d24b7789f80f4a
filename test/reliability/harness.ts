// The kill and signal harness of the reliability suite, reusable by every runbook's tests: run the real CLI, kill it
// (SIGKILL, or any signal) at a step's start, in its middle or at a named crash point, read what the journal says, resume
// it, and capture the end state of an emulated site to compare with an uninterrupted run.
//
// Kill points are generated, never listed by hand: the steps come from the runbook's own plan (an uninterrupted
// reference run, whose journal also gives each step's duration, so "the middle" is half of it), and the named crash
// points from the faultPoint('<point>') calls in src/.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { databasePassword } from '../../src/emulator/services/database.js';
import { EmulatedHost } from '../../src/host/emulated/index.js';
import { withClient, type PgConn } from '../../src/postgres/client.js';
import type { SiteConfig } from '../../src/site/model.js';
import { BIN, ROOT } from '../helpers/cli.js';

/** What one CLI run ended with: exit code, or the signal that ended it. */
export interface RunOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A journal line (see src/runbook/journal.ts). */
export interface JournalLine {
  event: string;
  step?: string;
  durationMs?: number;
  reason?: string;
  error?: string;
}

/** One place to kill a run: the start of a step, its middle, or a named crash point (QSADMIN_FAULT values). */
export interface KillPoint {
  kind: 'start' | 'mid' | 'point';
  /** The step the kill is aimed at (for a named point: the step it lies in, known only after the kill). */
  step?: string;
  fault: string;
  label: string;
}

/** Environment every CLI run of the suite gets: the renderer and mode users have in a scheduled task. */
export function cliEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, QSADMIN_RENDERER: 'simple', CI: 'true', NODE_ENV: 'production', ...extra })) if (v !== undefined) env[k] = v;
  return env;
}

/** Start `qsadmin <args>` as a child process (for signals sent from outside); await it for its outcome. */
export function startCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 300_000): ResultPromise<{ reject: false }> {
  return execa('node', [BIN, ...args], { reject: false, env: cliEnv(env), extendEnv: false, timeout: timeoutMs, cwd: ROOT, stdin: 'ignore' }) as ResultPromise<{ reject: false }>;
}

/** Run `qsadmin <args>` to its end; a kill by a fault shows as signal SIGKILL. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 300_000): Promise<RunOutcome> {
  const t = Date.now();
  const r = await startCli(args, env, timeoutMs);
  return { exitCode: r.exitCode ?? null, signal: r.signal ?? null, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - t };
}

/** The run ids in a state dir, oldest first. */
export function runIds(stateDir: string): string[] {
  const dir = path.join(stateDir, 'runs');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((id) => fs.existsSync(path.join(dir, id, 'plan.json')))
    .sort((a, b) => fs.statSync(path.join(dir, a, 'plan.json')).mtimeMs - fs.statSync(path.join(dir, b, 'plan.json')).mtimeMs);
}

/** Every readable line of a run's journal (a line torn by a kill is skipped, as the engine does). */
export function journal(stateDir: string, runId: string): JournalLine[] {
  const file = path.join(stateDir, 'runs', runId, 'journal.jsonl');
  if (!fs.existsSync(file)) return [];
  const out: JournalLine[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    try {
      if (l.trim()) out.push(JSON.parse(l) as JournalLine);
    } catch {
      // torn last line
    }
  }
  return out;
}

/** The plan's step ids of a run. */
export function planSteps(stateDir: string, runId: string): string[] {
  const plan = JSON.parse(fs.readFileSync(path.join(stateDir, 'runs', runId, 'plan.json'), 'utf8')) as { steps: Array<{ id: string }> };
  return plan.steps.map((s) => s.id);
}

/** Steps that were started and neither finished nor failed: what a kill interrupted. */
export function unfinishedSteps(lines: JournalLine[]): string[] {
  const state = new Map<string, string>();
  for (const l of lines) if (l.step && ['start', 'finish', 'fail', 'skip'].includes(l.event)) state.set(l.step, l.event);
  return [...state].filter(([, e]) => e === 'start').map(([s]) => s);
}

/** How long each step took in a finished run (skipped steps are absent). */
export function stepDurations(lines: JournalLine[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) if (l.event === 'finish' && l.step) m.set(l.step, l.durationMs ?? 0);
  return m;
}

/** The named crash points in the sources: every faultPoint('<point>') call under src/. */
export function namedCrashPoints(srcDir = path.join(ROOT, 'src')): string[] {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/faultPoint\(\s*'([^']+)'\s*\)/g)) out.add(m[1]);
    }
  };
  walk(srcDir);
  return [...out].sort();
}

/** Whether a named point belongs to a runbook: its name, up to its last dotted part, starts one of the plan's step ids. */
export function pointInPlan(point: string, steps: string[]): boolean {
  const base = point.split(':')[0];
  const prefix = base.includes('.') ? base.slice(0, base.lastIndexOf('.') + 1) : `${base}.`;
  return steps.some((s) => s.startsWith(prefix) || s === base);
}

/** Steps shorter than this have no middle a timer can hit reliably; they get a start kill only. */
export const MIN_MID_STEP_MS = 40;

/** The kill points of a runbook from its reference run: each step's start and middle, and its named crash points. */
export function killPoints(steps: string[], durations: Map<string, number>, points: string[] = namedCrashPoints()): { points: KillPoint[]; tooShort: string[] } {
  const out: KillPoint[] = [];
  const tooShort: string[] = [];
  for (const step of steps) {
    out.push({ kind: 'start', step, fault: `kill:${step}:0`, label: `${step} at start` });
    const d = durations.get(step);
    if (d !== undefined && d >= MIN_MID_STEP_MS) out.push({ kind: 'mid', step, fault: `kill:${step}:${Math.floor(d / 2)}`, label: `${step} at ${Math.floor(d / 2)} ms` });
    else tooShort.push(step);
  }
  for (const p of points.filter((p) => pointInPlan(p, steps))) out.push({ kind: 'point', fault: `kill-at:${p}`, label: `named point ${p}` });
  return { points: out, tooShort };
}

/** What happened to one kill case, for the summary and the failure message. */
export interface CaseResult {
  runbook: string;
  point: KillPoint;
  /** false: the kill did not land where it was aimed (step already finished, point not reached); not counted. */
  counted: boolean;
  passed: boolean;
  why?: string;
  ms: number;
}

/**
 * Run a command with a kill fault, check the kill landed where it was aimed (the journal shows the step unfinished), and
 * resume the run. Returns the run id and, when the kill did not land, why.
 */
export async function killAndResume(
  args: string[],
  env: Record<string, string | undefined>,
  stateDir: string,
  point: KillPoint,
): Promise<{ runId?: string; landed: boolean; why?: string; resumed?: RunOutcome; killed: RunOutcome }> {
  const before = new Set(runIds(stateDir));
  const killed = await runCli(args, { ...env, QSADMIN_STATE_DIR: stateDir, QSADMIN_FAULT: point.fault });
  const runId = runIds(stateDir).find((id) => !before.has(id));
  if (killed.signal !== 'SIGKILL' && killed.exitCode !== 0) {
    // the run failed by itself before it got to the kill: that is a failure of the case, not a kill that missed
    return { runId, landed: true, killed, why: `the run failed before the kill (exit ${killed.exitCode}): ${failureLines(killed.stderr)}` };
  }
  if (killed.signal !== 'SIGKILL') {
    return { runId, landed: false, killed, why: `not killed (exit 0): ${point.kind === 'point' ? 'the point was not reached' : 'the step did not run (skipped: its check held)'}` };
  }
  if (!runId) return { landed: true, killed, why: 'killed before the run folder was written: nothing to resume' };
  const open = unfinishedSteps(journal(stateDir, runId));
  // Killed elsewhere than aimed (a timer late on a busy machine): not counted, but resumed and checked all the same,
  // since the run was killed and the site must come back from wherever that was.
  const missed = point.step && !open.includes(point.step) ? `the journal does not show ${point.step} unfinished (open: ${open.join(', ') || 'none'})` : undefined;
  const resumed = await runCli(['runs', 'resume', runId, '--yes', '--json'], { ...env, QSADMIN_STATE_DIR: stateDir, QSADMIN_FAULT: undefined });
  return { runId, landed: !missed, killed, resumed, why: missed };
}

/** Wait until a run's journal shows a step started (for signals sent at a chosen moment). */
export async function waitForStepStart(stateDir: string, step: string | RegExp, timeoutMs = 120_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const id of runIds(stateDir)) {
      const hit = journal(stateDir, id).find((l) => l.event === 'start' && l.step && (typeof step === 'string' ? l.step === step : step.test(l.step)));
      if (hit) return id;
    }
    if (Date.now() > end) throw new Error(`no run in ${stateDir} started step ${step} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The lines of a failed run's output that say what failed (the task list marks them FAILED), else its last line. */
export function failureLines(stderr: string): string {
  const failed = stderr.split('\n').filter((l) => /FAILED|Error:|error:/.test(l) && !/not run: an earlier step failed/.test(l));
  return failed.length ? failed.slice(0, 3).join(' | ').slice(0, 1500) : lastLine(stderr);
}

/** The last non-empty line of a text (the one that matters in a failure). */
export function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop() ?? '';
}

// ---- end state of an emulated site -------------------------------------------------------------------------------

/** The superuser connection of an emulated site (password from its environment variable or secrets file). */
export function siteConn(site: SiteConfig, database = 'postgres'): PgConn {
  return { host: site.database.host, port: site.database.port, user: site.database.superuser, password: databasePassword(site), database };
}

/** Row counts of every table of every site database (`__qsadmin_*` working databases listed apart). */
export async function databaseState(site: SiteConfig): Promise<{ rows: Record<string, number>; working: string[] }> {
  const dbs = await withClient(siteConn(site), async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1')).rows.map((r) => r.datname));
  const rows: Record<string, number> = {};
  const working = dbs.filter((d) => d.includes('__qsadmin'));
  for (const db of dbs.filter((d) => d !== 'postgres' && !d.includes('__qsadmin'))) {
    await withClient(siteConn(site, db), async (c) => {
      const tables = await c.query<{ s: string; t: string }>(
        "SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
      );
      for (const { s, t } of tables.rows) {
        const q = `SELECT count(*)::int AS n FROM "${s.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`;
        rows[`${db}.${s}.${t}`] = (await c.query<{ n: number }>(q)).rows[0].n;
      }
    });
  }
  return { rows, working };
}

/** sha256 of a file. */
export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** sha256 of every file under a folder (relative paths), skipping what `skip` matches. */
export function treeHashes(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (skip(rel)) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[rel] = sha256File(p);
      else out[rel] = e.isSymbolicLink() ? `symlink -> ${fs.readlinkSync(p)}` : 'special';
    }
  };
  walk(dir);
  return out;
}

/** Every certificate in every store of a node: thumbprint and digests of its key and properties (PFX bytes differ per export). */
export function certStoreState(node: { root?: string }): Record<string, string> {
  const stores = [path.join(node.root!, 'Windows', 'CertStore')];
  const users = path.join(node.root!, 'Users');
  if (fs.existsSync(users)) for (const u of fs.readdirSync(users)) stores.push(path.join(users, u, 'CertStore'));
  const out: Record<string, string> = {};
  for (const dir of stores) for (const [rel, digest] of Object.entries(treeHashes(dir))) out[path.relative(node.root!, path.join(dir, rel))] = digest;
  return out;
}

/** The state of every service on every node (the database service included where a node runs it). */
export async function serviceStates(site: SiteConfig): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of site.nodes) for (const s of await new EmulatedHost(site, n).services.list()) out[`${n.name}.${s.name}`] = s.state;
  return out;
}

// Files of a site that change by themselves while services run: logs, PostgreSQL's data folder, and the emulated
// service control's state files (.emulator/services/*.json: pids and start times).
function volatile(site: SiteConfig, siteDir: string): (rel: string) => boolean {
  const dataDir = site.database.dataDir ? path.relative(siteDir, site.database.dataDir) : undefined;
  return (rel) =>
    (dataDir !== undefined && (rel === dataDir || rel.startsWith(dataDir + path.sep))) ||
    /(^|\/)(Log|ArchivedLogs|archived-logs|\.emulator)(\/|$)/.test(rel) ||
    /\.(log|pid|lock)$/.test(rel);
}

export interface SiteState {
  services: Record<string, string>;
  rows: Record<string, number>;
  workingDatabases: string[];
  /** sha256 of the share, the configs and every other file of the site that does not change by itself. */
  files: Record<string, string>;
  certs: Record<string, string>;
}

/** The end state of an emulated site, to compare with an uninterrupted run's. */
export async function siteState(site: SiteConfig, siteDir: string): Promise<SiteState> {
  const db = await databaseState(site);
  const certs: Record<string, string> = {};
  for (const n of site.nodes) for (const [k, v] of Object.entries(certStoreState(n))) certs[`${n.name}/${k}`] = v;
  const skip = volatile(site, siteDir);
  return { services: await serviceStates(site), rows: db.rows, workingDatabases: db.working, files: treeHashes(siteDir, skip), certs };
}

/** Differences between two states, one line each (empty: the same). Keys only in one side are strays or losses. */
export function diffState(expected: unknown, actual: unknown, at = ''): string[] {
  if (JSON.stringify(expected) === JSON.stringify(actual)) return [];
  if (expected && actual && typeof expected === 'object' && typeof actual === 'object' && !Array.isArray(expected)) {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const out: string[] = [];
    for (const k of new Set([...Object.keys(e), ...Object.keys(a)])) {
      if (!(k in a)) out.push(`${at}${k}: missing`);
      else if (!(k in e)) out.push(`${at}${k}: unexpected (stray)`);
      else out.push(...diffState(e[k], a[k], `${at}${k}.`));
    }
    return out;
  }
  return [`${at.replace(/\.$/, '')}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

/** The summary line of a matrix: runbooks, steps, kill points, passed (and what could not be counted). */
export function summaryLine(results: CaseResult[], steps: number, runbooks: number, ms: number): string {
  const counted = results.filter((r) => r.counted);
  return `crash matrix: ${runbooks} runbooks, ${steps} steps, ${results.length} kill points (${counted.length} landed), ${counted.filter((r) => r.passed).length} passed, ${counted.filter((r) => !r.passed).length} failed, ${results.length - counted.length} not landed; ${(ms / 1000).toFixed(0)} s`;
}
