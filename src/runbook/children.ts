// Every child process qsadmin starts goes through here, for two reasons.
//
// 1. Signals. Ctrl-C in a terminal reaches the whole foreground process group. A pg_dump in qsadmin's group would die
//    with it, and the step in hand could neither finish nor be undone. So on POSIX each child gets a process group of
//    its own (detached), and the runner decides what a signal means (finish the step, restart services, exit 130).
//    A detached child no longer dies with qsadmin, though: a guard process (reaper-main) holds the reading end of a
//    pipe from us and kills every group we registered when that pipe closes, i.e. when qsadmin exits or is SIGKILLed.
//    On Windows `detached` would open a console window per child; children stay in qsadmin's console there (a Task
//    Scheduler stop is TerminateProcess anyway, which no handler sees), and the guard ends them by pid.
// 2. Environment. A child gets an explicit environment: the few variables a program needs to run (PATH, locale, temp
//    folders, Windows system folders) plus what its caller names (PGPASSWORD only for PostgreSQL tools). Secrets in
//    our own environment (the database password, PFX passwords) reach nobody by inheritance.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packagedRuntime } from './packaged.js';

// Variables any program may need to start and behave as the operator expects; nothing else is inherited.
const INHERITED = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TEMP', 'TMP', 'TERM',
  // Windows: a process without SystemRoot cannot even load its DLLs; the rest are the folders programs look up.
  'SYSTEMROOT', 'WINDIR', 'COMSPEC', 'PATHEXT', 'SYSTEMDRIVE', 'PROGRAMDATA', 'PROGRAMFILES', 'PROGRAMFILES(X86)',
  'PROGRAMW6432', 'COMMONPROGRAMFILES', 'COMMONPROGRAMFILES(X86)', 'APPDATA', 'LOCALAPPDATA', 'USERPROFILE',
  'USERNAME', 'USERDOMAIN', 'COMPUTERNAME', 'NUMBER_OF_PROCESSORS', 'PROCESSOR_ARCHITECTURE', 'OS',
]);

// Our own switches that the emulated tools read (addresses, fault injection); none of them is a secret.
const INHERITED_PREFIXES = ['LC_', 'QSADMIN_EMULATOR_'];
const INHERITED_EXTRA = new Set(['QSADMIN_FAULT']);

/** The environment for a child: the inherited essentials plus `extra` (undefined values remove a variable). */
export function childEnv(extra: Record<string, string | undefined> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    const up = k.toUpperCase();
    if (INHERITED.has(up) || INHERITED_EXTRA.has(k) || INHERITED_PREFIXES.some((p) => up.startsWith(p))) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Spawn options that give a child its own process group (POSIX); spread them into spawn/execa options. */
export function ownGroup(): { detached: boolean } {
  return { detached: process.platform !== 'win32' };
}

/** A child that the guard must end if qsadmin goes away before it does. */
export interface TrackedChild {
  pid?: number;
  once(event: 'exit', listener: (...args: unknown[]) => void): unknown;
}

const live = new Set<number>();
let guard: ChildProcess | undefined;
let guardFailed = false;

// The guard's command line after the Node executable: reaper-main.js beside this file, or, in the single-file
// build, the executable's own guard arguments (it has no script files). Undefined under tsx (no built .js).
function guardArgs(): string[] | undefined {
  const packaged = packagedRuntime();
  if (packaged) return packaged.guardArgs;
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? undefined : [path.join(path.dirname(here), 'reaper-main.js')];
}

// Started with the first tracked child: a small Node process in a group of its own, so that Ctrl-C does not end it.
function ensureGuard(): ChildProcess | undefined {
  const args = guardArgs();
  if (guard || guardFailed || !args) return guard;
  try {
    guard = spawn(process.execPath, [...args, String(process.pid)], {
      ...ownGroup(),
      stdio: ['pipe', 'ignore', 'ignore'],
      env: childEnv(),
      windowsHide: true,
    });
    guard.on('error', () => {
      guardFailed = true;
      guard = undefined;
    });
    guard.stdin!.on('error', () => undefined);
    // Neither the guard nor our end of its pipe may keep qsadmin alive.
    guard.unref();
    (guard.stdin as unknown as { unref?: () => void }).unref?.();
  } catch {
    guardFailed = true;
    guard = undefined;
  }
  return guard;
}

/** Register a started child: it (and its group) is killed if qsadmin dies first. Returns the child. */
export function track<T extends TrackedChild>(child: T): T {
  const pid = child.pid;
  if (pid === undefined) return child;
  live.add(pid);
  ensureGuard()?.stdin!.write(`+${pid}\n`);
  child.once('exit', () => {
    live.delete(pid);
    if (guard?.stdin?.writable) guard.stdin.write(`-${pid}\n`);
  });
  return child;
}

/**
 * What the guard does after qsadmin dies, besides ending its children: start the services a run stopped again
 * (kill-recovery.ts reads the run's journal to know which). Registered for the run's whole length; cleared when the
 * run ends in this process (its own steps then started them, or said why not). One line, JSON, no secret in it.
 */
export interface GuardRecovery {
  runId: string;
  /** qsadmin's own pid: its lock for the run is stale once the pipe closes, zombie or not. */
  pid: number;
  runDir: string;
  lockKey: string;
  lockDir?: string;
  sitePath: string;
  services: Array<{ node: string; service: string; stopStep: string; startStep: string }>;
}

/** Have the guard start the run's stopped services should qsadmin die before the run ends; false without a guard. */
export function guardRecovery(r: GuardRecovery): boolean {
  const g = ensureGuard();
  if (!g?.stdin?.writable) return false;
  g.stdin.write(`R${Buffer.from(JSON.stringify(r)).toString('base64')}\n`);
  return true;
}

/** The run ended in this process: nothing for the guard to recover. */
export function clearGuardRecovery(): void {
  if (guard?.stdin?.writable) guard.stdin.write('r\n');
}

/** Kill every live child (its whole group on POSIX) now: the runner's immediate abort. */
export function killChildren(signal: NodeJS.Signals = 'SIGKILL'): number {
  let n = 0;
  for (const pid of live) {
    try {
      if (process.platform === 'win32') process.kill(pid, signal);
      else process.kill(-pid, signal);
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

/** Pids of the children that are still running (for tests and the abort message). */
export function liveChildren(): number[] {
  return [...live];
}
