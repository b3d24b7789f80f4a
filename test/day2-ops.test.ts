// Day-2 operations on a three-node emulated site (127.0.0.74-.76): service-account set and rotate-password (guide
// §2.11 B, C) and failover (§2.4), each with bad input refused before anything changes, a dry run that changes
// nothing, and a SIGKILL mid-run resumed to the guide's end state.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../src/emulator/site.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { EmulatedDirectory } from '../src/host/emulated/accounts.js';
import { emulatedConnectionPassword } from '../src/emulator/qrs/cluster.js';
import { withClient } from '../src/postgres/client.js';
import { ALL_QLIK_SERVICES } from '../src/site/services.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const NEW_ACCOUNT = 'EMULATED\\qsvc2';
const PASSWORD = "first 'pa$$' word";
const ROTATED = 'second-päss-word';

let emu: EmulatedSite;
let stateDir: string;

const env = (extra: Record<string, string> = {}) => ({ QSADMIN_DB_PASSWORD: emu.superuserPassword, QSADMIN_STATE_DIR: stateDir, ...extra });
const run = (args: string[], extra: Record<string, string> = {}) => qsadmin([...args, '--site', emu.siteFile], { env: env(extra) });

// Every node's Qlik services: Log On account and state.
async function logons(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of emu.site.nodes) {
    const h = new EmulatedHost(emu.site, n);
    for (const s of ALL_QLIK_SERVICES) out[`${n.name}.${s}`] = `${await h.accounts.serviceLogon(s)}:${(await h.services.status(s)).state}`;
  }
  return out;
}

// sha256 of every file under a folder, by relative path.
function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

const qsr = <R extends Record<string, unknown>>(sql: string) =>
  withClient({ host: emu.site.database.host, port: emu.site.database.port, user: 'postgres', password: emu.superuserPassword, database: 'QSR' }, async (c) => (await c.query<R>(sql)).rows);

function lastRunId(): string {
  return newestRun(stateDir);
}

beforeAll(async () => {
  stateDir = tempDir('qsadmin-day2-state-');
  emu = await makeSite({ nodes: 3, baseAddress: '127.0.0.74', portOffset: 45000, size: 'tiny', startServices: true, failoverCandidates: ['rim1'] });
  new EmulatedDirectory(emu.site, emu.dir).create(NEW_ACCOUNT, PASSWORD);
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('service-account set (guide §2.11 B)', () => {
  it('refuses an unknown account, a blank or a wrong password with exit 2, and a dry run changes nothing', async () => {
    const before = await logons();
    const unknown = await run(['service-account', 'set', '--account', 'EMULATED\\nobody'], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: PASSWORD });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('does not exist');
    const blank = await run(['service-account', 'set', '--account', NEW_ACCOUNT], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: '  ' });
    expect(blank.exitCode).toBe(2);
    expect(blank.stderr).toContain('blank');
    const wrong = await run(['service-account', 'set', '--account', NEW_ACCOUNT], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: 'not-it' });
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toContain('not the current password');
    const dry = await run(['service-account', 'set', '--account', NEW_ACCOUNT, '--dry-run'], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: PASSWORD });
    expect(dry.exitCode).toBe(0);
    const plan = dry.stdout;
    // the guide's order on each node
    const order = ['sa.central.groups', 'sa.central.stop.central.QRS', 'sa.central.acl', 'sa.central.bootstrap.proxy', 'sa.central.bootstrap.scheduler', 'sa.central.bootstrap.qsd', 'sa.central.bootstrap.repository', 'sa.logon.central.QRS', 'sa.central.start.central.QSD', 'sa.central.start.central.QRS', 'sa.rim1.groups'];
    const at = order.map((id) => plan.indexOf(id));
    expect(at.every((i) => i >= 0), plan).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(plan).toContain('-bootstrap -iscentral');
    expect(plan).not.toContain(PASSWORD);
    expect(await logons()).toEqual(before);
  }, 120_000);

  it('runs every service as the new account after a SIGKILL mid-run and a resume', async () => {
    const killed = await run(['service-account', 'set', '--account', NEW_ACCOUNT], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: PASSWORD, QSADMIN_FAULT: 'kill-at:sa.logon.rim1.QES' });
    expect(killed.exitCode).not.toBe(0);
    const runId = lastRunId();
    const journal = fs.readFileSync(path.join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8');
    expect(journal).not.toContain(PASSWORD);
    expect(journal).toContain('"step":"sa.logon.rim1.QES"');
    const resumed = await qsadmin(['runs', 'resume', runId, '--json'], { env: env({ QSADMIN_SERVICE_ACCOUNT_PASSWORD: PASSWORD }) });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const after = await logons();
    for (const v of Object.values(after)) expect(v).toBe(`${NEW_ACCOUNT}:running`);
    // what the guide's steps left on each node: groups, Full control, the bootstraps
    for (const n of emu.site.nodes) {
      const h = new EmulatedHost(emu.site, n);
      const info = await h.accounts.lookup(NEW_ACCOUNT);
      expect(info.groups).toEqual(expect.arrayContaining(['Qlik Sense Service Users', 'Performance Monitor Users']));
      expect(await h.accounts.hasFullControl('C:\\ProgramData\\Qlik\\Sense', NEW_ACCOUNT)).toBe(true);
      expect((await h.machine.installedServices()).find((s) => s.name === 'QlikSenseRepositoryService')?.account).toBe(NEW_ACCOUNT);
    }
    // the database service keeps Local System
    const db = (await new EmulatedHost(emu.site, emu.site.nodes[0]).machine.installedServices()).find((s) => s.name === emu.site.database.service);
    expect(db?.account).toBe('Local System');
    // the site config names the new account; the file before is kept beside it
    expect(JSON.parse(fs.readFileSync(emu.siteFile, 'utf8')).serviceAccount).toBe(NEW_ACCOUNT);
    expect(JSON.parse(fs.readFileSync(`${emu.siteFile}.bak`, 'utf8')).serviceAccount).not.toBe(NEW_ACCOUNT);
  }, 240_000);
});

describe('service-account rotate-password (guide §2.11 C)', () => {
  it('a changed password stops a service from starting (1069) until rotate-password, which also updates the monitoring connections', async () => {
    new EmulatedDirectory(emu.site, emu.dir).changePassword(NEW_ACCOUNT, ROTATED);
    expect((await run(['services', 'stop', '--node', 'rim2', '--service', 'QPR'])).exitCode).toBe(0);
    const refused = await run(['services', 'start', '--node', 'rim2', '--service', 'QPR']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr + refused.stdout).toContain('1069');
    const wrong = await run(['service-account', 'rotate-password', '--account', NEW_ACCOUNT], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: PASSWORD });
    expect(wrong.exitCode).toBe(2);
    const killed = await run(['service-account', 'rotate-password', '--account', NEW_ACCOUNT], { QSADMIN_SERVICE_ACCOUNT_PASSWORD: ROTATED, QSADMIN_FAULT: 'kill-at:sa.logon.rim1.QPS' });
    expect(killed.exitCode).not.toBe(0);
    const resumed = await qsadmin(['runs', 'resume', lastRunId(), '--json'], { env: env({ QSADMIN_SERVICE_ACCOUNT_PASSWORD: ROTATED }) });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    for (const v of Object.values(await logons())) expect(v).toBe(`${NEW_ACCOUNT}:running`);
    const rows = await withClient({ host: emu.site.database.host, port: emu.site.database.port, user: 'postgres', password: emu.superuserPassword, database: 'QSR' }, async (c) =>
      (await c.query<{ Name: string; UserName: string; Password: string }>(`SELECT "Name", "UserName", "Password" FROM "DataConnections" WHERE "Name" LIKE 'monitoring_apps_%' ORDER BY "Name"`)).rows);
    expect(rows.length).toBe(3);
    for (const r of rows) expect([r.UserName, r.Password]).toEqual([NEW_ACCOUNT, emulatedConnectionPassword(ROTATED)]);
  }, 240_000);
});

describe('share move (guide §2.3)', () => {
  it('refuses an unreachable, non-empty or inaccessible share with exit 2, plans without changing, and moves after a SIGKILL and a resume', async () => {
    const [old] = await qsr<{ RootFolder: string; AppFolder: string; ArchivedLogsRootFolder: string; StaticContentRootFolder: string }>('SELECT * FROM "ServiceClusterSettingsSharedPersistenceProperties"');
    const oldHashes = { apps: treeHashes(old.AppFolder), logs: treeHashes(old.ArchivedLogsRootFolder), sc: treeHashes(old.StaticContentRootFolder) };
    expect(Object.keys(oldHashes.apps).length).toBeGreaterThan(0);
    const to = path.join(emu.dir, 'share2');
    const missing = await run(['share', 'move', '--to', to]);
    expect(missing.exitCode, missing.stderr).toBe(2);
    expect(missing.stderr).toContain('not reachable');
    fs.mkdirSync(to);
    // the services run as the non-administrator account of the test above: it needs Full control on the new share
    const noAcl = await run(['share', 'move', '--to', to]);
    expect(noAcl.exitCode, noAcl.stderr).toBe(2);
    expect(noAcl.stderr).toContain('no Full control');
    await new EmulatedHost(emu.site, emu.site.nodes[0]).accounts.grantFullControl(to, NEW_ACCOUNT);
    fs.writeFileSync(path.join(to, 'stray.txt'), 'x');
    const notEmpty = await run(['share', 'move', '--to', to]);
    expect(notEmpty.exitCode).toBe(2);
    expect(notEmpty.stderr).toContain('not empty');
    fs.rmSync(path.join(to, 'stray.txt'));
    // not writable: an immutable folder refuses even root (where the filesystem supports the attribute)
    let immutable = false;
    try {
      execFileSync('chattr', ['+i', to], { stdio: 'ignore' });
      immutable = true;
      const ro = await run(['share', 'move', '--to', to]);
      expect(ro.exitCode).toBe(2);
      expect(ro.stderr).toContain('not writable');
    } catch (e) {
      if (immutable) throw e;
    } finally {
      if (immutable) execFileSync('chattr', ['-i', to]);
    }
    const dry = await run(['share', 'move', '--to', to, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('NOT THE GUIDE');
    expect(fs.readdirSync(to)).toEqual([]);

    const killed = await run(['share', 'move', '--to', to], { QSADMIN_FAULT: 'kill-at:share-move.copy.mid' });
    expect(killed.exitCode).not.toBe(0);
    const resumed = await qsadmin(['runs', 'resume', lastRunId(), '--json'], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const [now] = await qsr<{ RootFolder: string; AppFolder: string; ArchivedLogsRootFolder: string; StaticContentRootFolder: string }>('SELECT * FROM "ServiceClusterSettingsSharedPersistenceProperties"');
    expect([now.RootFolder, now.AppFolder, now.ArchivedLogsRootFolder, now.StaticContentRootFolder]).toEqual([to, path.join(to, 'Apps'), path.join(to, 'ArchivedLogs'), path.join(to, 'StaticContent')]);
    expect(treeHashes(now.AppFolder)).toEqual(oldHashes.apps);
    expect(treeHashes(now.ArchivedLogsRootFolder)).toEqual(oldHashes.logs);
    expect(treeHashes(now.StaticContentRootFolder)).toEqual(oldHashes.sc);
    // the old share is untouched
    expect(treeHashes(old.AppFolder)).toEqual(oldHashes.apps);
    for (const v of Object.values(await logons())) expect(v).toBe(`${NEW_ACCOUNT}:running`);
  }, 240_000);
});

describe('failover (guide §2.4)', () => {
  it('refuses a node that is not a candidate or lacks a service, and makes the candidate central after a SIGKILL and a resume', async () => {
    const before = await qsr<{ HostName: string; IsCentral: boolean; FailoverCandidate: boolean }>('SELECT "HostName", "IsCentral", "FailoverCandidate" FROM "ServerNodeConfigurations" ORDER BY "HostName"');
    const notCandidate = await run(['failover', '--to', 'rim2']);
    expect(notCandidate.exitCode).toBe(2);
    expect(notCandidate.stderr).toContain('not a failover candidate');
    expect((await run(['services', 'stop', '--node', 'rim1', '--service', 'QSS'])).exitCode).toBe(0);
    const lacking = await run(['failover', '--to', 'rim1']);
    expect(lacking.exitCode).toBe(2);
    expect(lacking.stderr).toContain('QlikSenseSchedulerService');
    expect((await run(['services', 'start', '--node', 'rim1', '--service', 'QSS'])).exitCode).toBe(0);
    const dry = await run(['failover', '--to', 'rim1', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('/qrs/failover/tonode/');
    expect(await qsr('SELECT "HostName", "IsCentral", "FailoverCandidate" FROM "ServerNodeConfigurations" ORDER BY "HostName"')).toEqual(before);

    const killed = await run(['failover', '--to', 'rim1'], { QSADMIN_FAULT: 'kill-at:failover.posted' });
    expect(killed.exitCode).not.toBe(0);
    const resumed = await qsadmin(['runs', 'resume', lastRunId()], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('10 minutes');
    const after = Object.fromEntries((await qsr<{ HostName: string; IsCentral: boolean; FailoverCandidate: boolean }>('SELECT "HostName", "IsCentral", "FailoverCandidate" FROM "ServerNodeConfigurations"')).map((r) => [r.HostName, [r.IsCentral, r.FailoverCandidate]]));
    const [c, r1] = emu.site.nodes;
    expect(after[r1.hostname]).toEqual([true, true]);
    expect(after[c.hostname]).toEqual([false, true]);
    const site = JSON.parse(fs.readFileSync(emu.siteFile, 'utf8')) as typeof emu.site;
    expect(site.nodes.find((n) => n.role === 'central')?.name).toBe('rim1');
  }, 240_000);
});
