// Service state files of an emulated node (<nodeRoot>/.emulator/services/<name>.json) and process liveness.
import fs from 'node:fs';
import path from 'node:path';
import type { ServiceName } from '../../site/services.js';

export type RecordedState = 'start_pending' | 'running' | 'stop_pending' | 'stopped';

export interface ServiceStateFile {
  name: string;
  pid: number;
  state: RecordedState;
  /** Ports the process listens on (the ones it has opened, not the ones it should). */
  ports: number[];
  startedAt: string;
  stoppedAt?: string;
  /** Why the process exited, when it exited on its own. */
  error?: string;
}

// Directory of the node's service state files.
export function stateDir(nodeRoot: string): string {
  return path.join(nodeRoot, '.emulator', 'services');
}

// Path of one service's state file.
export function stateFile(nodeRoot: string, name: ServiceName | string): string {
  return path.join(stateDir(nodeRoot), `${name}.json`);
}

// Read a service's state file; null when the service never ran.
export function readState(nodeRoot: string, name: ServiceName | string): ServiceStateFile | null {
  try {
    return JSON.parse(fs.readFileSync(stateFile(nodeRoot, name), 'utf8')) as ServiceStateFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (e instanceof SyntaxError) return null; // half-written by a crashed writer: treat as never ran
    throw e;
  }
}

// Write a service's state file atomically (temp file + rename), so readers never see half a file.
export function writeState(nodeRoot: string, state: ServiceStateFile): void {
  const file = stateFile(nodeRoot, state.name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/** Wakes a waiter when a service's state file is replaced; see watchState. */
export interface StateWatch {
  /** Resolves when the state file was replaced since the last call, or after `ms` at the latest. */
  next(ms: number): Promise<void>;
  close(): void;
}

// Watch one service's state file (inotify on its folder), so that a waiter sees a new state as soon as the service writes
// it instead of on its next poll. The timeout of next() keeps polling as the fallback: a process that dies without
// writing its state, or a folder that cannot be watched (no inotify watches left), is still noticed.
export function watchState(nodeRoot: string, name: string): StateWatch {
  const file = `${name}.json`;
  let changed = false;
  let wake: (() => void) | null = null;
  let watcher: fs.FSWatcher | null = null;
  try {
    watcher = fs.watch(stateDir(nodeRoot), { persistent: false }, (_event, changedName) => {
      if (changedName !== null && changedName !== file) return; // another service, or a temporary file
      changed = true;
      wake?.();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = null; // polling only
  }
  return {
    next(ms) {
      if (changed) {
        changed = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          wake = null;
          changed = false;
          resolve();
        };
        const timer = setTimeout(done, ms);
        wake = done;
      });
    },
    close() {
      watcher?.close();
      wake?.();
    },
  };
}

// Merge changes into a service's state file.
export function updateState(nodeRoot: string, name: string, changes: Partial<ServiceStateFile>): ServiceStateFile | null {
  const current = readState(nodeRoot, name);
  if (!current) return null;
  const next = { ...current, ...changes };
  writeState(nodeRoot, next);
  return next;
}

// Every state file of a node (services and emulator helpers such as the database watchdog).
export function listStates(nodeRoot: string): ServiceStateFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(stateDir(nodeRoot));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => readState(nodeRoot, n.slice(0, -'.json'.length)))
    .filter((s): s is ServiceStateFile => s !== null);
}

// True when the pid is a live process (not a zombie) whose command line carries every marker (guards against pid reuse).
export function isProcessAlive(pid: number | undefined, markers: string[] = []): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  let stat: string;
  let cmdline: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return process.platform !== 'linux'; // no /proc: trust kill(0)
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return false;
  const args = cmdline.split('\0');
  return markers.every((m) => args.includes(m));
}

// The command-line markers that identify one emulated service process of one node.
export function processMarkers(nodeRoot: string, name: string): string[] {
  return [nodeRoot, name];
}
