// Drive `Repository.exe -bootstrap -standalone -restorehostname` as the guide's §5.7 step 7 says: read its console;
// at "[INFO] Entering main startup phase..." start the Service Dispatcher; at "Bootstrap mode has terminated. Press
// ENTER to exit.." send ENTER. Anything else (exit before that line, no line in time) is a clear error.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createInterface } from 'node:readline';
import type { Host } from '../host/types.js';
import { childEnv, ownGroup, track } from '../runbook/children.js';

export const STARTUP_LINE = '[INFO] Entering main startup phase...';
export const TERMINATED_LINE = 'Bootstrap mode has terminated. Press ENTER to exit..';
export const BOOTSTRAP_ARGS = ['-bootstrap', '-standalone', '-restorehostname'];

export interface BootstrapOptions {
  /** Called once at the startup line: start QSD here. */
  onStartup(): Promise<void>;
  timeoutMs: number;
  log(line: string): void;
}

/** The program and environment to run a node's Repository.exe with (emulated: a Node script, as EmulatedHost.exec does). */
function commandFor(host: Host): { command: string; args: string[]; cwd: string; env: Record<string, string> } {
  const h = host as Host & { site?: unknown; node?: { name: string; root?: string } };
  if (!h.node?.root || !h.site) throw new Error(`running Repository.exe interactively is implemented for emulated nodes only (node ${host.name})`);
  const exe = host.files.resolve(host.paths.repositoryExe);
  if (!fs.existsSync(exe)) throw new Error(`'${host.paths.repositoryExe}' is not recognized as an internal or external command (exit 9009): is Qlik Sense installed on ${host.name}?`);
  return {
    command: process.execPath,
    args: [exe, ...BOOTSTRAP_ARGS],
    cwd: host.files.resolve(host.paths.repositoryExe.replace(/\\[^\\]+$/, '')),
    // Repository.exe reads the database password from its own config, not from our environment (children.ts)
    env: childEnv({ QSADMIN_EMULATOR_SITE_JSON: JSON.stringify(h.site), QSADMIN_EMULATOR_NODE: h.node.name, QSADMIN_EMULATOR_NODE_ROOT: h.node.root }),
  };
}

/** Run the hostname restore to its end; resolves with the console lines, rejects with the reason and the last lines. */
export async function runRestoreHostname(host: Host, o: BootstrapOptions): Promise<string[]> {
  const { command, args, cwd, env } = commandFor(host);
  const child = track(spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], ...ownGroup() }));
  const lines: string[] = [];
  let stage: 'started' | 'startup' | 'terminated' = 'started';
  const tail = () => lines.slice(-8).join(' | ');
  return new Promise<string[]>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else resolve(lines);
    };
    const timer = setTimeout(() => {
      const waiting = stage === 'started' ? `"${STARTUP_LINE}"` : `"${TERMINATED_LINE}"`;
      finish(new Error(`Repository.exe -restorehostname printed no ${waiting} within ${Math.round(o.timeoutMs / 1000)} s; last output: ${tail() || '(none)'}`));
    }, o.timeoutMs);
    const onLine = (line: string) => {
      lines.push(line);
      o.log(`Repository.exe: ${line}`);
      if (line.includes(STARTUP_LINE) && stage === 'started') {
        stage = 'startup';
        o.onStartup().catch((e: Error) => finish(new Error(`starting the Service Dispatcher during the hostname restore failed: ${e.message}`)));
      } else if (line.includes(TERMINATED_LINE) && stage === 'startup') {
        stage = 'terminated';
        child.stdin.write('\n');
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', (l) => onLine(`(stderr) ${l}`));
    child.on('error', (e) => finish(new Error(`cannot run Repository.exe on ${host.name}: ${e.message}`)));
    child.on('close', (code) => {
      if (stage === 'terminated' && code === 0) finish();
      else finish(new Error(`Repository.exe -restorehostname exited with ${code} before ${stage === 'started' ? 'the startup phase' : 'it terminated bootstrap mode'}: ${tail() || '(no output)'}`));
    });
  });
}
