// A demo site built the way a real one is (`qsadmin demo --via-install`): bare emulated Windows nodes, then qsadmin's
// own `install --silent` on each node and `cluster join` for each rim, run as child processes of the CLI with the
// passwords in their environment (never their argv). Content (apps, static content, logs) is then generated into the
// installed site, as its users would have made it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { createBareNodes, SETUP_EXE } from './bare.js';
import { windowsToEmulated } from '../host/paths.js';
import { installRoot } from '../runbook/packaged.js';
import type { SiteSize } from './site.js';

const BIN = path.join(installRoot(), 'bin', 'run.js');
const HOSTNAMES = ['qs-central.emulated.test', 'qs-rim1.emulated.test', 'qs-rim2.emulated.test'];

export interface InstallSiteOptions {
  dir: string;
  nodes: 1 | 3;
  size: SiteSize;
  portOffset: number;
  baseAddress?: string;
  stateDir: string;
  /** Progress lines (the step being run). */
  say?: (line: string) => void;
}

function secret(dir: string, name: string, value: string): void {
  fs.mkdirSync(path.join(dir, 'secrets'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'secrets', name), value + '\n', { mode: 0o600 });
}

/** Build the site; returns its site config file. Throws with the failing command's output. */
export async function installEmulatedSite(o: InstallSiteOptions): Promise<string> {
  const base = (o.baseAddress ?? '127.0.0.2').split('.').map(Number);
  const nodes = Array.from({ length: o.nodes }, (_, i) => ({ name: i === 0 ? 'central' : `rim${i}`, hostname: HOSTNAMES[i], address: [...base.slice(0, 3), base[3] + i].join('.') }));
  const passwords = { service: randomBytes(15).toString('base64url'), db: randomBytes(15).toString('base64url'), repository: randomBytes(15).toString('base64url') };
  createBareNodes({ dir: o.dir, nodes, portOffset: o.portOffset, serviceAccount: { name: 'EMULATED\\qservice', password: passwords.service } });
  const share = path.join(o.dir, 'share');
  fs.mkdirSync(share, { recursive: true, mode: 0o755 });
  // The demo keeps the superuser password where every later command finds it (site.emulator.passwordFile).
  secret(o.dir, 'db-password', passwords.db);
  const siteFile = path.join(o.dir, 'site.json');
  const env = { QSADMIN_SERVICE_PASSWORD: passwords.service, QSADMIN_DB_PASSWORD: passwords.db, QSADMIN_REPOSITORY_PASSWORD: passwords.repository, QSADMIN_RENDERER: 'simple', CI: 'true' };
  const run = async (args: string[]) => {
    o.say?.(`qsadmin ${args.join(' ')}`);
    const r = await execa(process.execPath, [BIN, ...args, '--state-dir', o.stateDir], { env, reject: false });
    if (r.exitCode !== 0) throw new Error(`qsadmin ${args[0]} ${args[1] ?? ''} failed (exit ${r.exitCode}):\n${String(r.stderr || r.stdout).slice(-2000)}`);
  };
  const common = (n: string) => ['--silent', '--setup', SETUP_EXE, '--emulated-node', path.join(o.dir, 'nodes', n), '--share', share, '--service-account', 'EMULATED\\qservice'];
  await run(['install', '--role', 'central', ...common('central'), '--out', siteFile]);
  for (const n of nodes.slice(1)) await run(['install', '--role', 'rim', ...common(n.name), '--site', siteFile]);
  for (const n of nodes.slice(1)) await run(['cluster', 'join', '--rim', n.name, '--site', siteFile]);
  const site = JSON.parse(fs.readFileSync(siteFile, 'utf8')) as { database: { host: string; port: number } };
  const { generateSiteData } = await import('./db/generate.js');
  o.say?.(`generating ${o.size} content (apps, static content, logs) into the installed site`);
  await generateSiteData({
    db: { host: site.database.host, port: site.database.port, user: 'postgres', password: passwords.db, database: 'QSR' },
    shareDirs: { apps: path.join(share, 'Apps'), staticContent: path.join(share, 'StaticContent'), archivedLogs: path.join(share, 'ArchivedLogs') },
    nodeLogDirs: nodes.map((n) => windowsToEmulated(path.join(o.dir, 'nodes', n.name), 'C:\\ProgramData\\Qlik\\Sense\\Log')),
    size: o.size,
  });
  return siteFile;
}
