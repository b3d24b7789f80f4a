// The runbooks on the Windows driver, end to end on Linux: a real emulated site supplies the database (PostgreSQL)
// and the node's files, a folder plays the Windows machine's drives (C: is the emulated node, D:\QlikShare the share,
// reached as \\QS-CENTRAL\QlikShare through its SMB share), and the recording fake PowerShell plays the services,
// the certificate stores, the Volume Shadow Copy service and the account. Each test asserts the PowerShell
// commands the runbook's steps send, in order, and the end state.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateQlikCertSet, type QlikCertSet } from '../src/certs/generate.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import type { SiteConfig } from '../src/site/model.js';
import { qsadmin, ROOT } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const FAKE = path.join(ROOT, 'test', 'fixtures', 'powershell', 'fake-powershell.mjs');
const OFFSET = 47000;
const SERVICE_ACCOUNT = 'DOMAIN\\qservice';
const SA_PASSWORD = "svc 'pa$$' ‘word’";
const CERT_PASSWORD = 'cert-pass-for-windows-test';
const SHARE = '\\\\QS-CENTRAL\\QlikShare';

let emu: EmulatedSite;
let dir: string;
let drives: string;
let stateFile: string;
let logFile: string;
let siteFile: string;
let qrs: http.Server;
let certSet: QlikCertSet;

type Entry = { script: string; args: Record<string, unknown>; as?: string };
const recorded = (): Entry[] => fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
const controls = (log: Entry[]) => log.filter((r) => r.script === 'service.control').map((r) => `${r.args.Verb} ${String(r.args.Name).replace('QlikSense', '')}`);
const state = () => JSON.parse(fs.readFileSync(stateFile, 'utf8'));

const env = () => ({
  QSADMIN_POWERSHELL: FAKE,
  QSADMIN_EMULATOR_PS_STATE: stateFile,
  QSADMIN_EMULATOR_PS_LOG: logFile,
  QSADMIN_EMULATOR_WINDOWS_ROOT: drives,
  QSADMIN_DB_PASSWORD: emu.superuserPassword,
  QSADMIN_SERVICE_ACCOUNT_PASSWORD: SA_PASSWORD,
  QSADMIN_CERT_PASSWORD: CERT_PASSWORD,
});

function windowsSite(): SiteConfig {
  const c = emu.site.nodes[0];
  return {
    name: 'win-runbooks',
    driver: 'windows',
    nodes: [{ name: 'central', hostname: c.hostname, role: 'central', address: c.address, portOffset: OFFSET, reach: { via: 'local' } }],
    database: { host: emu.site.database.host, port: emu.site.database.port, service: 'QlikSenseRepositoryDatabase', node: 'central', superuser: 'postgres', passwordEnv: 'QSADMIN_DB_PASSWORD', binDir: emu.site.database.binDir },
    serviceAccount: SERVICE_ACCOUNT,
    shareRoot: SHARE,
  };
}

// The machine: Win32_Service rows for the seven Qlik services (the database's command line names the emulated
// cluster's folders), the emulated node's certificates in the fake's stores, an elevated administrator.
async function machine(identity = { user: 'DOMAIN\\admin', elevated: true }) {
  const major = path.basename(emu.site.database.dataDir!);
  const running = (pid: number, deps: string[] = []) => ({ State: 'Running', ProcessId: pid, StartName: SERVICE_ACCOUNT, PathName: '"C:\\Program Files\\Qlik\\Sense\\x.exe"', DependsOn: deps });
  const services = {
    QlikSenseRepositoryDatabase: { ...running(100), StartName: 'LocalSystem', PathName: `"C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\${major}\\bin\\pg_ctl.exe" runservice -N "QlikSenseRepositoryDatabase" -D "C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\${major}"` },
    QlikSenseServiceDispatcher: running(101),
    QlikSenseRepositoryService: running(102, ['QlikSenseServiceDispatcher']),
    QlikSenseProxyService: running(103, ['QlikSenseRepositoryService']),
    QlikSenseEngineService: running(104, ['QlikSenseRepositoryService']),
    QlikSenseSchedulerService: running(105, ['QlikSenseRepositoryService']),
    QlikSensePrintingService: running(106, ['QlikSenseRepositoryService']),
  };
  const pair = (p: { certPem: string; keyPem: string }, key = true) => ({ certPem: p.certPem, keyPem: key ? p.keyPem : null, exportable: true });
  const certs = {
    'LocalMachine\\Root': [pair(certSet.root)],
    'LocalMachine\\My': [pair(certSet.server), pair(certSet.serviceCluster)],
    [`CurrentUser:${SERVICE_ACCOUNT.toLowerCase()}\\Root`]: [pair(certSet.root, false)],
    [`CurrentUser:${SERVICE_ACCOUNT.toLowerCase()}\\My`]: [pair(certSet.client)],
  };
  fs.writeFileSync(stateFile, JSON.stringify({
    services,
    identity: { ...identity, computer: 'QS-CENTRAL' },
    accounts: { [SERVICE_ACCOUNT.toLowerCase()]: { password: SA_PASSWORD } },
    certs,
    smbShares: { QlikShare: 'D:\\QlikShare' },
    volumes: { 'C:\\': 'NTFS', 'D:\\': 'NTFS' },
  }, null, 2));
  fs.writeFileSync(logFile, '');
}

beforeAll(async () => {
  emu = await makeSite({ layout: 'manual', size: 'tiny', portOffset: OFFSET, baseAddress: '127.0.0.150', startServices: false });
  dir = tempDir('qsadmin-winrb-');
  certSet = generateQlikCertSet(emu.site.nodes[0].hostname);
  drives = path.join(dir, 'drives');
  stateFile = path.join(dir, 'machine.json');
  logFile = path.join(dir, 'ps.log');
  // C: is the emulated node; the share is D:\QlikShare, shared as \\QS-CENTRAL\QlikShare.
  fs.mkdirSync(path.join(drives, 'D'), { recursive: true });
  fs.mkdirSync(path.join(drives, 'UNC', 'qs-central'), { recursive: true });
  fs.symlinkSync(emu.site.nodes[0].root!, path.join(drives, 'C'), 'dir');
  fs.renameSync(emu.site.shareRoot!, path.join(drives, 'D', 'QlikShare'));
  fs.symlinkSync(path.join(drives, 'D', 'QlikShare'), path.join(drives, 'UNC', 'qs-central', 'QlikShare'), 'dir');
  // QSR names the share as a Windows site does.
  const c = new pg.Client({ host: emu.site.database.host, port: emu.site.database.port, user: 'postgres', password: emu.superuserPassword, database: 'QSR' });
  await c.connect();
  await c.query(
    `UPDATE "ServiceClusterSettingsSharedPersistenceProperties" SET "RootFolder" = $1, "AppFolder" = $1 || '\\Apps', "StaticContentRootFolder" = $1 || '\\StaticContent', "ArchivedLogsRootFolder" = $1 || '\\ArchivedLogs'`,
    [SHARE],
  );
  await c.end();
  siteFile = path.join(dir, 'site.json');
  fs.writeFileSync(siteFile, JSON.stringify(windowsSite(), null, 2));
  // QRS's state port answers 2 (running), as a started QRS does.
  qrs = http.createServer((_, res) => res.end(JSON.stringify({ value: 2 })));
  await new Promise<void>((r) => qrs.listen(4444 + OFFSET, emu.site.nodes[0].address, r));
}, 180_000);

afterAll(async () => {
  await new Promise((r) => qrs?.close(r));
  await destroySites();
  cleanupTempDirs();
});

describe('backup create on the Windows driver', () => {
  let setDir: string;

  it('stops in the guide order, takes a shadow copy of the local share, starts, exports the certificates as the service account, and deletes the copy', async () => {
    await machine();
    const to = path.join(dir, 'backups');
    const r = await qsadmin(['backup', 'create', '--site', siteFile, '--to', to, '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const out = JSON.parse(r.stdout);
    setDir = path.join(to, out.outputs?.backupId ?? fs.readdirSync(to).find((n) => !n.startsWith('.'))!);
    const log = recorded();
    const names = log.map((e) => e.script);
    // Before anything changes: who runs this (elevated), which stores it can open, how the share is captured.
    expect(names.indexOf('machine.identity')).toBeLessThan(names.indexOf('service.control'));
    expect(names.indexOf('shadow.locate')).toBeLessThan(names.indexOf('service.control'));
    const c = controls(log);
    expect(c.slice(0, 4).sort()).toEqual(['stop EngineService', 'stop PrintingService', 'stop ProxyService', 'stop SchedulerService']);
    expect(c.slice(4, 6)).toEqual(['stop RepositoryService', 'stop ServiceDispatcher']);
    expect(c[6]).toBe('start ServiceDispatcher');
    expect(c[7]).toBe('start RepositoryService');
    expect(c.slice(8).sort()).toEqual(['start EngineService', 'start PrintingService', 'start ProxyService', 'start SchedulerService']);
    // The shadow copy is taken while the services are down (after the last stop), deleted after the copy.
    const lastStop = log.findIndex((e) => e.script === 'service.control' && e.args.Name === 'QlikSenseServiceDispatcher' && e.args.Verb === 'stop');
    const create = names.indexOf('shadow.create');
    const qrsStart = log.findIndex((e) => e.script === 'service.control' && e.args.Name === 'QlikSenseRepositoryService' && e.args.Verb === 'start');
    expect(create).toBeGreaterThan(lastStop);
    expect(create).toBeLessThan(qrsStart);
    expect(names.lastIndexOf('shadow.delete')).toBeGreaterThan(qrsStart);
    expect(state().shadows).toEqual([]);
    expect(log.find((e) => e.script === 'shadow.create')!.args.Volume).toBe('D:\\');
    // The service account's CurrentUser stores are read as that account (a scheduled task), LocalMachine directly.
    const exports = log.filter((e) => e.script === 'cert.export');
    expect(exports.filter((e) => e.args.Location === 'CurrentUser').every((e) => e.as === SERVICE_ACCOUNT)).toBe(true);
    expect(exports.filter((e) => e.args.Location === 'LocalMachine').every((e) => e.as === undefined)).toBe(true);
    expect(exports.length).toBeGreaterThanOrEqual(3);
    // No secret is in a recorded command except where a script needs it (the PFX and the account's password).
    for (const e of log) if (!['cert.export', 'machine.as-account'].includes(e.script)) expect(JSON.stringify(e)).not.toContain(CERT_PASSWORD);
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain(emu.superuserPassword);
    // Everything is as it was: services running, the share untouched.
    expect(Object.values(state().services).every((s) => (s as { State: string }).State === 'Running')).toBe(true);
    const manifest = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8'));
    const stored = manifest.files.map((f: { path: string }) => f.path);
    expect(stored.some((p: string) => p.startsWith('files/share/Apps/'))).toBe(true);
    expect(stored).toEqual(expect.arrayContaining([`config/central/postgresql.conf`, `config/central/pg_hba.conf`, 'config/central/Host.cfg']));
    expect(stored.filter((p: string) => p.startsWith('certs/central/')).length).toBeGreaterThanOrEqual(5);
    const v = await qsadmin(['backup', 'verify', setDir, '--json'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
  }, 240_000);

  it('refuses to start when qsadmin is not elevated, naming the account, and changes nothing', async () => {
    await machine({ user: 'DOMAIN\\operator', elevated: false });
    const r = await qsadmin(['backup', 'create', '--site', siteFile, '--to', path.join(dir, 'backups-2'), '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(r.exitCode).toBe(2);
    const err = JSON.parse(r.stdout).error as { message: string; hint: string };
    expect(err.message).toMatch(/elevated \(administrator\) process on central \(runs as DOMAIN\\operator, not elevated\)/);
    expect(err.hint).toMatch(/Run as administrator/);
    expect(controls(recorded())).toEqual([]);
    expect(state().shadows ?? []).toEqual([]);
  }, 60_000);

  it('copies a share on another file server while the services are down, and the plan says why', async () => {
    await machine();
    const s = state();
    s.smbShares = {}; // \\QS-CENTRAL\QlikShare is now not a share of this machine: no shadow copy possible
    fs.writeFileSync(stateFile, JSON.stringify(s));
    const plan = await qsadmin(['backup', 'create', '--site', siteFile, '--to', path.join(dir, 'backups-3'), '--dry-run'], { env: env() });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout + plan.stderr).toMatch(/copied while services are down \(no snapshot possible: .*another file server/);
    expect(recorded().some((e) => e.script === 'shadow.create' || e.script === 'service.control')).toBe(false);
  }, 60_000);
});
