// The runbooks on the Windows driver, end to end on Linux: a real emulated site supplies the database (PostgreSQL)
// and the node's files, a folder plays the Windows machine's drives (C: is the emulated node, D:\QlikShare the share,
// reached as \\QS-CENTRAL\QlikShare through its SMB share), and the recording fake PowerShell plays the services,
// the certificate stores, the Volume Shadow Copy service and the account. Each test asserts the PowerShell
// commands the runbook's steps send, in order, and the end state.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateQlikCertSet, type QlikCertSet } from '../src/certs/generate.js';
import { describeCert } from '../src/certs/inspect.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import type { SiteConfig } from '../src/site/model.js';
import { execa } from 'execa';
import { BIN, qsadmin, ROOT } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { qlikServiceRows } from './helpers/windows-machine.js';

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
let qrsApi: https.Server;
let certSet: QlikCertSet;

type Entry = { script: string; args: Record<string, unknown>; as?: string };
const recorded = (): Entry[] => fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
const controls = (log: Entry[]) => log.filter((r) => r.script === 'service.control').map((r) => `${r.args.Verb} ${String(r.args.Name).replace('QlikSense', '')}`);
const state = () => JSON.parse(fs.readFileSync(stateFile, 'utf8'));

// The guide's order (§1.3): QPS/QES/QSS/QPR (any order among them) → QRS → QSD down; QSD → QRS → the rest up.
function expectGuideOrder(c: string[]) {
  expect(c.slice(0, 4).sort()).toEqual(['stop EngineService', 'stop PrintingService', 'stop ProxyService', 'stop SchedulerService']);
  expect(c.slice(4, 6)).toEqual(['stop RepositoryService', 'stop ServiceDispatcher']);
  expect(c.slice(6, 8)).toEqual(['start ServiceDispatcher', 'start RepositoryService']);
  expect(c.slice(8).sort()).toEqual(['start EngineService', 'start PrintingService', 'start ProxyService', 'start SchedulerService']);
}

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
async function machine(identity = { user: 'DOMAIN\\admin', elevated: true }, inStores: QlikCertSet = certSet) {
  const major = path.basename(emu.site.database.dataDir!);
  const services = qlikServiceRows(SERVICE_ACCOUNT, major);
  const pair = (p: { certPem: string; keyPem: string }, key = true) => ({ certPem: p.certPem, keyPem: key ? p.keyPem : null, exportable: true });
  const certs = {
    'LocalMachine\\Root': [pair(inStores.root)],
    'LocalMachine\\My': [pair(inStores.server), pair(inStores.serviceCluster)],
    [`CurrentUser:${SERVICE_ACCOUNT.toLowerCase()}\\Root`]: [pair(inStores.root, false)],
    [`CurrentUser:${SERVICE_ACCOUNT.toLowerCase()}\\My`]: [pair(inStores.client)],
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
  emu = await makeSite({ layout: 'manual', size: 'tiny', portOffset: OFFSET, baseAddress: '127.0.0.136', startServices: false });
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
  // The Windows operator of these tests is a RootAdmin of the site (a restore must run as one, guide §5.7).
  await c.query(`CREATE TEMP TABLE u AS SELECT * FROM "Users" WHERE "Roles" LIKE '%RootAdmin%' LIMIT 1`);
  await c.query(`UPDATE u SET "ID" = gen_random_uuid(), "UserDirectory" = 'DOMAIN', "UserId" = 'admin', "Name" = 'admin'`);
  await c.query(`INSERT INTO "Users" SELECT * FROM u`);
  await c.end();
  siteFile = path.join(dir, 'site.json');
  fs.writeFileSync(siteFile, JSON.stringify(windowsSite(), null, 2));
  // QRS's state port answers 2 (running), as a started QRS does.
  qrs = http.createServer((_, res) => res.end(JSON.stringify({ value: 2 })));
  await new Promise<void>((r) => qrs.listen(4444 + OFFSET, emu.site.nodes[0].address, r));
  // QRS's API over mutual TLS as the node's certificates make it: the server certificate, client certificates of the
  // site CA only (the restore checks /qrs/about with the certificate it restored).
  qrsApi = https.createServer({ key: certSet.server.keyPem, cert: certSet.server.certPem, ca: certSet.root.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url?.startsWith('/qrs/about')) res.end(JSON.stringify({ buildVersion: '14.173.4.0', databaseProvider: 'Devart.Data.PostgreSql' }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => qrsApi.listen(4242 + OFFSET, emu.site.nodes[0].address, r));
}, 180_000);

afterAll(async () => {
  await new Promise((r) => qrs?.close(r));
  await new Promise((r) => qrsApi?.close(r));
  await destroySites();
  cleanupTempDirs();
});

let setDir: string;

describe('backup create on the Windows driver', () => {
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
    expectGuideOrder(controls(log));
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

  it('a run killed while it holds a shadow copy leaves it for the next run, which deletes it', async () => {
    await machine();
    const to = path.join(dir, 'backups-kill');
    const stateDir = path.join(dir, 'state-kill');
    const args = [BIN, 'backup', 'create', '--site', siteFile, '--to', to, '--state-dir', stateDir, '--json'];
    const child = execa('node', args, { reject: false, env: { ...process.env, ...env(), QSADMIN_EMULATOR_PS_HANG_ON: 'shadow.delete', CI: 'true', NODE_ENV: 'production' } });
    for (let i = 0; i < 600 && !recorded().some((e) => e.script === 'shadow.delete'); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await child;
    expect(state().shadows).toHaveLength(1); // the killed run's copy is still there
    const again = await qsadmin(['backup', 'create', '--site', siteFile, '--to', to, '--state-dir', stateDir, '--json'], { env: env() });
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(state().shadows).toEqual([]);
    const logs = fs.readdirSync(path.join(stateDir, 'runs')).map((r) => fs.readFileSync(path.join(stateDir, 'runs', r, 'run.log'), 'utf8')).join('\n');
    expect(logs).toMatch(/removed share views of killed runs: shadow copy \{0+-0+-0+-0+-0+1\}/);
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

describe('certificates on the Windows driver', () => {
  it('exports the set from the four stores, CurrentUser as the service account, into private folders here', async () => {
    await machine();
    const to = path.join(dir, 'certs-out');
    const r = await qsadmin(['certs', 'export', '--site', siteFile, '--to', to, '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const log = recorded();
    const lists = log.filter((e) => e.script === 'cert.list').map((e) => `${e.args.Location}\\${e.args.Name}${e.as ? ` as ${e.as}` : ''}`);
    expect(new Set(lists)).toEqual(new Set(['LocalMachine\\Root', 'LocalMachine\\My', `CurrentUser\\Root as ${SERVICE_ACCOUNT}`, `CurrentUser\\My as ${SERVICE_ACCOUNT}`]));
    expect(log.filter((e) => e.script === 'cert.export' && e.args.Location === 'CurrentUser').map((e) => e.as)).toEqual([SERVICE_ACCOUNT]);
    expect(controls(log)).toEqual([]); // an export leaves the services alone
    expect(fs.readdirSync(path.join(to, 'central')).sort()).toEqual(expect.arrayContaining(['client.pfx', 'root.pfx', 'server.pfx', 'certs.json']));
    expect(fs.statSync(path.join(to, 'central', 'server.pfx')).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('imports a set with --replace: the old certificates are exported first, removed, the set imported, the key granted', async () => {
    const own = generateQlikCertSet(emu.site.nodes[0].hostname); // the node made certificates of its own
    await machine(undefined, own);
    const s = state();
    for (const svc of Object.keys(s.services)) if (svc !== 'QlikSenseRepositoryDatabase') Object.assign(s.services[svc], { State: 'Stopped', ProcessId: 0 });
    fs.writeFileSync(stateFile, JSON.stringify(s));
    const r = await qsadmin(['certs', 'import', path.join(dir, 'certs-out', 'central'), '--site', siteFile, '--no-start', '--replace', '--yes', '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const log = recorded().map((e) => e.script).filter((n) => n.startsWith('cert.'));
    const firstRemove = log.indexOf('cert.remove');
    expect(firstRemove).toBeGreaterThan(log.indexOf('cert.export')); // the safety copy comes before any removal
    expect(log.indexOf('cert.import')).toBeGreaterThan(log.lastIndexOf('cert.remove'));
    const lm = state().certs['LocalMachine\\My'] as Array<{ certPem: string; keyAcl?: string[] }>;
    const tp = (pem: string) => describeCert(pem).thumbprint;
    expect(lm.map((c) => tp(c.certPem))).toContain(tp(certSet.server.certPem));
    expect(lm.map((c) => tp(c.certPem))).not.toContain(tp(own.server.certPem));
    expect(state().certs['LocalMachine\\Root'].map((c: { certPem: string }) => tp(c.certPem))).toEqual([tp(certSet.root.certPem)]);
    expect(lm.find((c) => tp(c.certPem) === tp(certSet.server.certPem))!.keyAcl).toEqual([SERVICE_ACCOUNT]);
    expect(controls(recorded())).toEqual([]); // --no-start: stopped before, stopped after
  }, 60_000);
});

describe('restore on the Windows driver', () => {
  it('refuses an operator who was no RootAdmin at backup time, naming the RootAdmins; --skip-root-admin-check lets the plan through', async () => {
    await machine({ user: 'DOMAIN\\operator', elevated: true });
    const args = ['restore', setDir, '--site', siteFile, '--state-dir', path.join(dir, 'state'), '--dry-run'];
    const r = await qsadmin([...args, '--json'], { env: env() });
    expect(r.exitCode).toBe(2);
    const err = JSON.parse(r.stdout).error as { message: string; hint: string };
    expect(err.message).toMatch(/DOMAIN\\operator had no RootAdmin role in the backup/);
    expect(err.hint).toMatch(/DOMAIN\\admin/);
    expect(err.hint).toMatch(/EMULATED\\qsadmin/);
    const skipped = await qsadmin([...args, '--skip-root-admin-check'], { env: env() });
    expect(skipped.exitCode, skipped.stdout + skipped.stderr).toBe(0);
    expect(skipped.stdout).toMatch(/RootAdmin check skipped/);
    expect(controls(recorded())).toEqual([]);
  }, 60_000);

  it('restores the backup set: services stopped in order, certificates replaced, databases swapped, share swapped, services started', async () => {
    await machine(undefined, generateQlikCertSet(emu.site.nodes[0].hostname)); // certificates changed since the backup
    // The site changes after the backup: the restore must bring back the backed-up app file.
    const apps = path.join(drives, 'D', 'QlikShare', 'Apps');
    const app = fs.readdirSync(apps).find((n) => fs.statSync(path.join(apps, n)).isFile())!;
    const before = fs.readFileSync(path.join(apps, app));
    fs.writeFileSync(path.join(apps, app), 'changed after the backup');
    const r = await qsadmin(['restore', setDir, '--site', siteFile, '--yes', '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const log = recorded();
    expectGuideOrder(controls(log));
    const names = log.map((e) => e.script);
    const lastStop = log.findIndex((e) => e.script === 'service.control' && e.args.Name === 'QlikSenseServiceDispatcher' && e.args.Verb === 'stop');
    const firstStart = log.findIndex((e) => e.script === 'service.control' && e.args.Verb === 'start');
    const imports = names.map((n, i) => (n === 'cert.import' ? i : -1)).filter((i) => i >= 0);
    expect(imports.length).toBeGreaterThanOrEqual(4);
    expect(imports.every((i) => i > lastStop && i < firstStart)).toBe(true); // certificates change only while down
    expect(fs.readFileSync(path.join(apps, app))).toEqual(before);
    expect(Object.values(state().services).every((x) => (x as { State: string }).State === 'Running')).toBe(true);
  }, 240_000);
});

describe('site init on the Windows driver', () => {
  it('reads Host.cfg, the services (database port from its postgresql.conf, the service account) and QSR, and writes the config', async () => {
    await machine();
    const out = path.join(dir, 'init-site.json');
    const r = await qsadmin(['site', 'init', '--out', out, '--name', 'win-runbooks', '--db-host', emu.site.database.host, '--json'], { env: env() });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const expected = windowsSite();
    delete expected.database.binDir; // found at run time from the service's command line
    delete expected.nodes[0].portOffset; // the emulator's own
    expected.nodes[0].address = expected.nodes[0].hostname; // Qlik nodes reach each other by hostname
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(expected);
    const sent = recorded().map((e) => e.script);
    expect(sent).toContain('service.list');
    expect(sent.some((n) => n === 'service.control' || n.startsWith('cert.') || n.startsWith('shadow.'))).toBe(false); // read-only
  }, 60_000);
});
