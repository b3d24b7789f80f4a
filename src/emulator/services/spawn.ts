// Start an emulated service as a real detached process that outlives the caller (a later CLI run stops it).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { SITE_ENV } from './site-env.js';
import { childEnv } from '../../runbook/children.js';

export { SITE_ENV };

export interface SpawnedService {
  child: ChildProcess;
  pid: number;
  consoleLog: string;
}

// Node options of a service process. Without fetch: node-postgres probes for Cloudflare Workers at load by making a
// fetch Response, which loads Node's whole fetch implementation (about 30 ms); no service uses fetch. Passed only
// when this Node knows the option, so that a Node without it still starts the services.
const NODE_FLAGS = ['--no-experimental-fetch'].filter((f) => process.allowedNodeEnvironmentFlags.has(f));

// The program to run for an entry module next to this one: compiled .js as is, or the .ts source through tsx.
export function entryCommand(entry: string): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const fromSources = here.endsWith('.ts');
  const file = path.join(path.dirname(here), `${entry}${fromSources ? '.ts' : '.js'}`);
  if (!fromSources) return { command: process.execPath, args: [...NODE_FLAGS, file] };
  const tsxLoader = createRequire(import.meta.url).resolve('tsx');
  return { command: process.execPath, args: [...NODE_FLAGS, '--import', tsxLoader, file] };
}

// The environment of a service process: the essentials only (children.ts builds it: no secret of qsadmin's, no
// test-runner option such as NODE_OPTIONS), plus the site config. NODE_EXTRA_CA_CERTS stays out too: Node reads and
// parses that bundle at every boot (about 40 ms of CPU for a 200 KB system bundle), and a service never checks a
// public server's certificate (it talks to the local database without TLS and serves TLS with the site's own CA).
function serviceEnv(site: SiteConfig): Record<string, string> {
  return childEnv({ [SITE_ENV]: JSON.stringify(site) });
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
