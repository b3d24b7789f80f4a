// Start an emulated service as a real detached process that outlives the caller (a later CLI run stops it).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConfig, SiteConfig } from '../../site/model.js';

export const SITE_ENV = 'QSADMIN_EMULATOR_SITE_JSON';

export interface SpawnedService {
  child: ChildProcess;
  pid: number;
  consoleLog: string;
}

// The program to run for an entry module next to this one: compiled .js as is, or the .ts source through tsx.
export function entryCommand(entry: string): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const fromSources = here.endsWith('.ts');
  const file = path.join(path.dirname(here), `${entry}${fromSources ? '.ts' : '.js'}`);
  if (!fromSources) return { command: process.execPath, args: [file] };
  const tsxLoader = createRequire(import.meta.url).resolve('tsx');
  return { command: process.execPath, args: ['--import', tsxLoader, file] };
}

// The environment of a service process: ours without secrets or test-runner options, plus the site config.
function serviceEnv(site: SiteConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [SITE_ENV]: JSON.stringify(site) };
  for (const key of ['NODE_OPTIONS', 'PGPASSWORD', 'PGPASSFILE', site.database.passwordEnv]) if (key) delete env[key];
  return env;
}

// Spawn an entry module (service-main, db-watchdog) detached, stdio to a log file, with the site config in the environment.
export function spawnDetached(entry: string, site: SiteConfig, node: NodeConfig, args: string[], consoleLog: string): SpawnedService {
  const { command, args: base } = entryCommand(entry);
  fs.mkdirSync(path.dirname(consoleLog), { recursive: true });
  const fd = fs.openSync(consoleLog, 'a');
  try {
    const child = spawn(command, [...base, ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: node.root,
      env: serviceEnv(site),
    });
    child.on('error', () => undefined); // a failed spawn shows as a missing pid below
    if (child.pid === undefined) throw new Error(`could not start ${command} ${base.join(' ')} for ${node.name}`);
    child.unref();
    return { child, pid: child.pid, consoleLog };
  } finally {
    fs.closeSync(fd);
  }
}
