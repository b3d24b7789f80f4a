// Where runs live: the state dir (%ProgramData%\qsadmin, $XDG_STATE_HOME/qsadmin or ~/.local/state/qsadmin).
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** The default state dir for this platform, unless --state-dir / QSADMIN_STATE_DIR says otherwise. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (platform === 'win32') return path.win32.join(env.ProgramData ?? 'C:\\ProgramData', 'qsadmin');
  if (env.XDG_STATE_HOME) return path.join(env.XDG_STATE_HOME, 'qsadmin');
  return path.join(os.homedir(), '.local', 'state', 'qsadmin');
}

/** A sortable, readable run id: <runbook>-<UTC timestamp>-<random>. */
export function newRunId(runbook: string, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${runbook.replace(/[^a-z0-9]+/gi, '-')}-${ts}-${randomBytes(3).toString('hex')}`;
}

export function runsDir(stateDir: string): string {
  return path.join(stateDir, 'runs');
}

export function runDir(stateDir: string, runId: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(runId)) throw new Error(`not a run id: ${JSON.stringify(runId)}`);
  return path.join(runsDir(stateDir), runId);
}
