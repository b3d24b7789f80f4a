// The Windows driver on Linux: its PowerShell goes to a recording fake (test/fixtures/powershell) that parses every
// command with the real PowerShell grammar and refuses what Microsoft's documentation does not list; quoting is
// proven against hostile values; the services runbooks run through the real CLI against the fake's machine.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WindowsHost, nodeReach } from '../src/host/windows/index.js';
import { childEnv } from '../src/runbook/children.js';
import { WindowsFiles } from '../src/host/windows/files.js';
import { psLiteral } from '../src/host/windows/quote.js';
import { SERVICE_CONTROL, SERVICE_LIST } from '../src/host/windows/ps/services.js';
import * as certScripts from '../src/host/windows/ps/certs.js';
import * as machineScripts from '../src/host/windows/ps/machine.js';
import * as shadowScripts from '../src/host/windows/ps/shadow.js';
import { PROCESS_RUN } from '../src/host/windows/ps/process.js';
import * as privateScripts from '../src/host/windows/ps/private.js';
import { joinCommandLine, splitCommandLine } from '../src/host/windows/service-command.js';
import { AS_ACCOUNT, RUNNER } from '../src/host/windows/ps/as-account.js';
import { sameAccount } from '../src/host/windows/certstore.js';
import { generateQlikCertSet } from '../src/certs/generate.js';
import { readPfx } from '../src/certs/pfx.js';
import { describeCert } from '../src/certs/inspect.js';
import { psScript } from '../src/host/windows/ps/script.js';
import { PsSession, commandLine, openRemoteLine } from '../src/host/windows/session.js';
import type { SiteConfig } from '../src/site/model.js';
import { qsadmin, ROOT } from './helpers/cli.js';
import { powershellErrors } from './helpers/powershell.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { qlikServiceRows } from './helpers/windows-machine.js';

const FAKE = path.join(ROOT, 'test', 'fixtures', 'powershell', 'fake-powershell.mjs');
const ADDRESS = '127.0.0.131';
const OFFSET = 43000;

const HOSTILE = [
  "it's",
  'a\u2018b', 'a\u2019b', 'a\u201Ab', 'a\u201Bb', "''", "'; Remove-Item C:\\ -Recurse; '",
  '$env:QSADMIN_DB_PASSWORD', '`$(whoami)`', 'a;b', 'line1\nline2\r\nline3', '  spaced  out  ',
  'Zürich-Ærø-東京-🙂', `C:\\${'Verzeichnis mit Länge\\'.repeat(14)}end.qvf`,
];

// PowerShell's own rule for a single-quoted string (about_Quoting_Rules): it ends at the first quote character
// (' or U+2018-U+201B) that is not doubled. Returns the value and what follows the literal.
function readSingleQuoted(text: string): { value: string; rest: string } {
  const q = /['\u2018\u2019\u201A\u201B]/;
  if (!q.test(text[0])) throw new Error('not a single-quoted literal');
  let value = '';
  for (let i = 1; i < text.length; i++) {
    if (q.test(text[i])) {
      if (i + 1 < text.length && q.test(text[i + 1])) {
        value += text[i];
        i++;
        continue;
      }
      return { value, rest: text.slice(i + 1) };
    }
    value += text[i];
  }
  throw new Error('unterminated literal');
}

let dir: string;
let stateFile: string;
let logFile: string;
let qrs: http.Server;

function machine(overrides: Record<string, object> = {}) {
  const services: Record<string, object> = { ...qlikServiceRows('DOMAIN\\qservice', 14), ...overrides };
  fs.writeFileSync(stateFile, JSON.stringify({ services, identity: { user: 'DOMAIN\\admin', elevated: true, computer: 'QS-WIN' } }, null, 2));
  fs.writeFileSync(logFile, '');
}

const recorded = () => fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { script: string; args: Record<string, unknown>; remote?: boolean });

function site(): SiteConfig {
  return {
    name: 'win-test',
    driver: 'windows',
    nodes: [{ name: 'central', hostname: 'qs-win.example.test', role: 'central', address: ADDRESS, portOffset: OFFSET, reach: { via: 'local' } }],
    database: { host: 'qs-win.example.test', port: 4432, service: 'QlikSenseRepositoryDatabase', node: 'central', superuser: 'postgres', passwordEnv: 'QSADMIN_DB_PASSWORD' },
    serviceAccount: 'DOMAIN\\qservice',
    shareRoot: '\\\\fs01\\QlikShare',
  };
}

const env = () => ({ QSADMIN_POWERSHELL: FAKE, QSADMIN_EMULATOR_PS_STATE: stateFile, QSADMIN_EMULATOR_PS_LOG: logFile });

beforeAll(async () => {
  dir = tempDir();
  stateFile = path.join(dir, 'machine.json');
  logFile = path.join(dir, 'ps.log');
  Object.assign(process.env, env());
  // QRS's state port, as a started QRS answers it (the runbook waits for servicestate 2 after a start).
  qrs = http.createServer((_, res) => res.end(JSON.stringify({ value: 2 })));
  await new Promise<void>((r) => qrs.listen(4444 + OFFSET, ADDRESS, r));
});

afterAll(async () => {
  await new Promise((r) => qrs.close(r));
  cleanupTempDirs();
});

describe('quoting', () => {
  it('keeps every hostile value inside its single-quoted literal, exactly', async () => {
    for (const v of HOSTILE) {
      const lit = psLiteral(v);
      const { value, rest } = readSingleQuoted(lit);
      expect(value).toBe(v);
      expect(rest).toBe('');
      expect(await powershellErrors(`$x = ${lit}\n`)).toEqual([]);
    }
    expect(() => psLiteral('a\0b')).toThrow(/NUL/);
  });

  it('sends scripts and arguments as one line of base64 that the grammar parses', async () => {
    const all = [SERVICE_LIST, SERVICE_CONTROL, AS_ACCOUNT, ...Object.values(certScripts), ...Object.values(machineScripts), ...Object.values(shadowScripts), ...Object.values(privateScripts), PROCESS_RUN];
    expect(await powershellErrors(RUNNER + '\n')).toEqual([]);
    for (const s of all) {
      expect(await powershellErrors(s.text), s.name).toEqual([]);
      for (const remote of [false, true]) {
        const line = commandLine(s, Object.fromEntries(s.params.map((p) => [p, HOSTILE])), remote);
        expect(line).not.toMatch(/\n/);
        expect(line).toMatch(/^[\x20-\x7e]+$/); // ASCII only: no value reaches PowerShell as text it could read as code
        for (const v of HOSTILE) expect(line).not.toContain(v.trim());
        expect(await powershellErrors(line)).toEqual([]);
      }
    }
    const open = openRemoteLine({ via: 'winrm', port: 5986, useSsl: true, authentication: 'Kerberos' }, 'qs-rim1.example.test', { username: "DOMAIN\\o'brien", password: 'p@ss"$word' });
    expect(open).not.toMatch(/p@ss/);
    expect(await powershellErrors(open)).toEqual([]);
    expect(() => commandLine(SERVICE_CONTROL, { Name: 'x' }, false)).toThrow(/missing Verb, TimeoutMs/);
  });
});

describe('the PowerShell session (recording fake)', () => {
  it('returns hostile values unchanged through a real round trip', async () => {
    machine();
    const s = new PsSession('qs-win.example.test', { executable: FAKE, reach: { via: 'local' }, env: process.env });
    try {
      const rows = await s.run<Array<{ name: string; state: string }>>(SERVICE_LIST, { Names: HOSTILE });
      expect(rows.map((r) => r.name)).toEqual(HOSTILE);
      expect(rows.every((r) => r.state === 'absent')).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('refuses what PowerShell does not have: an invented cmdlet, parameter, type or member', async () => {
    machine();
    const s = new PsSession('qs-win.example.test', { executable: FAKE, reach: { via: 'local' }, env: process.env });
    try {
      await expect(s.run(psScript('bad.cmdlet', [], 'Get-QlikEverything'))).rejects.toThrow(/'Get-QlikEverything' is not recognized/);
      await expect(s.run(psScript('bad.param', [], 'Get-CimInstance -ClassName Win32_Service -Timeout 5'))).rejects.toThrow(/parameter name 'Timeout'/);
      await expect(s.run(psScript('bad.member', ['Name'], '$sc = New-Object -TypeName System.ServiceProcess.ServiceController -ArgumentList $Name\n$sc.StartAndWait()'), { Name: 'x' })).rejects.toThrow(/StartAndWait/);
      await expect(s.run(psScript('bad.type', [], '[System.ServiceProcess.ServiceManager]::Open()'))).rejects.toThrow(/Unable to find type/);
    } finally {
      await s.close();
    }
  });

  it('opens a PSSession for a WinRM node and runs scripts inside it', async () => {
    machine();
    process.env.QSADMIN_TEST_WINRM_USER = 'DOMAIN\\qsadmin';
    process.env.QSADMIN_TEST_WINRM_PASSWORD = "it's a secret";
    const s = new PsSession('qs-rim1.example.test', { executable: FAKE, reach: { via: 'winrm', usernameEnv: 'QSADMIN_TEST_WINRM_USER', passwordEnv: 'QSADMIN_TEST_WINRM_PASSWORD' }, env: childEnv() });
    try {
      await s.run(SERVICE_LIST, { Names: ['QlikSenseProxyService'] });
    } finally {
      await s.close();
    }
    const log = recorded();
    expect(log[0]).toMatchObject({ script: 'session.open', args: { ComputerName: 'qs-rim1.example.test', Username: 'DOMAIN\\qsadmin', Password: '<given>' } });
    expect(log[1]).toMatchObject({ script: 'service.list', remote: true });
    expect(childEnv()).not.toHaveProperty('QSADMIN_TEST_WINRM_PASSWORD');
  });
});

describe('WindowsHost services', () => {
  it('maps states and Win32 errors as the emulator does (1068 for a stopped dependency, 1053 for a hang)', async () => {
    machine({ QlikSenseServiceDispatcher: { State: 'Stopped', ProcessId: 0, DependsOn: [] }, QlikSenseRepositoryService: { State: 'Stopped', ProcessId: 0, DependsOn: ['QlikSenseServiceDispatcher'] }, QlikSenseProxyService: { State: 'Running', ProcessId: 103, HangOnStop: true } });
    const s = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    s.services.QlikSenseRepositoryDatabase.HangOnStop = true;
    fs.writeFileSync(stateFile, JSON.stringify(s));
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      expect((await h.services.status('QlikSenseServiceDispatcher')).state).toBe('stopped');
      const db = await h.services.status('QlikSenseRepositoryDatabase');
      expect(db).toMatchObject({ state: 'running', account: 'LocalSystem' });
      expect(await h.databaseService()).toEqual({ service: 'QlikSenseRepositoryDatabase', account: 'LocalSystem', serviceName: 'QlikSenseRepositoryDatabase', binDir: 'C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\14\\bin', dataDir: 'C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\14' });
      await expect(h.services.start('QlikSenseRepositoryService')).rejects.toMatchObject({ code: 'DEPENDENCY', windowsError: 1068 });
      await expect(h.services.stop('QlikSenseProxyService', { timeoutMs: 500 })).rejects.toMatchObject({ code: 'STOP_TIMEOUT', windowsError: 1053 });
      expect((await h.services.status('QlikSenseProxyService')).state).toBe('stop_pending');
      // Opt-in: the stuck process is ended (Stop-Process -Force); the database service is never ended.
      expect(await h.services.stop('QlikSenseProxyService', { timeoutMs: 500, endStuckProcess: true })).toEqual({ endedProcess: 103 });
      expect((await h.services.status('QlikSenseProxyService')).state).toBe('stopped');
      await expect(h.services.stop('QlikSenseRepositoryDatabase', { timeoutMs: 500, endStuckProcess: true })).rejects.toMatchObject({ code: 'STOP_TIMEOUT' });
      expect(recorded().filter((r) => r.script === 'service.end-process').map((r) => r.args.Name)).toEqual(['QlikSenseProxyService']);
      await h.services.start('QlikSenseProxyService');
      await h.services.start('QlikSenseServiceDispatcher');
      await h.services.start('QlikSenseRepositoryService');
      expect((await h.services.list()).map((s) => s.state)).toEqual(['stop_pending', 'running', 'running', 'running', 'running', 'running', 'running']);
    } finally {
      await h.close();
    }
  });

  it('runs `services stop` and `services start` through the CLI in the guide order', async () => {
    machine();
    const siteFile = path.join(dir, 'site.json');
    fs.writeFileSync(siteFile, JSON.stringify(site(), null, 2));
    const stop = await qsadmin(['services', 'stop', '--site', siteFile, '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(stop.exitCode, stop.stderr).toBe(0);
    const stops = recorded().filter((r) => r.script === 'service.control').map((r) => r.args.Name as string);
    expect(stops.slice(0, 4).sort()).toEqual(['QlikSenseEngineService', 'QlikSensePrintingService', 'QlikSenseProxyService', 'QlikSenseSchedulerService']);
    expect(stops.slice(4)).toEqual(['QlikSenseRepositoryService', 'QlikSenseServiceDispatcher']);
    expect(recorded().filter((r) => r.script === 'service.control').every((r) => r.args.Verb === 'stop')).toBe(true);
    const states = JSON.parse(fs.readFileSync(stateFile, 'utf8')).services as Record<string, { State: string }>;
    expect(states.QlikSenseRepositoryDatabase.State).toBe('Running'); // the database keeps running
    expect(Object.entries(states).filter(([n]) => n !== 'QlikSenseRepositoryDatabase').every(([, s]) => s.State === 'Stopped')).toBe(true);

    fs.writeFileSync(logFile, '');
    const start = await qsadmin(['services', 'start', '--site', siteFile, '--state-dir', path.join(dir, 'state'), '--json'], { env: env() });
    expect(start.exitCode, start.stderr).toBe(0);
    const starts = recorded().filter((r) => r.script === 'service.control').map((r) => r.args.Name as string);
    expect(starts.slice(0, 2)).toEqual(['QlikSenseServiceDispatcher', 'QlikSenseRepositoryService']);
    expect(starts.slice(2).sort()).toEqual(['QlikSenseEngineService', 'QlikSensePrintingService', 'QlikSenseProxyService', 'QlikSenseSchedulerService']);
    const status = await qsadmin(['services', 'status', '--site', siteFile, '--json'], { env: env() });
    expect(JSON.parse(status.stdout).nodes[0]).toMatchObject({ repositoryState: 2 });
  });
});

describe('a service stuck stopping', () => {
  it('fails the stop by default, and with --end-stuck-services ends its process and logs it', async () => {
    machine({ QlikSenseEngineService: { State: 'Running', ProcessId: 104, DependsOn: ['QlikSenseRepositoryService'], HangOnStop: true } });
    const siteFile = path.join(dir, 'site-stuck.json');
    fs.writeFileSync(siteFile, JSON.stringify(site(), null, 2));
    const args = ['services', 'stop', '--site', siteFile, '--state-dir', path.join(dir, 'state-stuck'), '--timeout', '1', '--verbose'];
    const plain = await qsadmin(args, { env: env() });
    expect(plain.exitCode).toBe(1);
    expect(plain.stdout + plain.stderr).toMatch(/Engine Service.*did not reach Stopped/);
    const ended = await qsadmin([...args, '--end-stuck-services'], { env: env() });
    expect(ended.exitCode, ended.stdout + ended.stderr).toBe(0);
    const journal = fs.readdirSync(path.join(dir, 'state-stuck', 'runs')).map((r) => fs.readFileSync(path.join(dir, 'state-stuck', 'runs', r, 'run.log'), 'utf8')).join('\n');
    expect(journal).toMatch(/warning: Qlik Sense Engine Service on central was still stopping after 1 s: its process 104 was ended \(--end-stuck-services\)/);
  });
});

describe('paths and reach', () => {
  it('opens local paths as they are and another node through its admin share', () => {
    expect(new WindowsFiles().resolve('C:\\ProgramData\\Qlik\\Sense\\Host.cfg')).toBe('C:\\ProgramData\\Qlik\\Sense\\Host.cfg');
    expect(new WindowsFiles('qs-rim1.example.test').resolve('C:\\ProgramData\\Qlik\\Sense\\Host.cfg')).toBe('\\\\qs-rim1.example.test\\C$\\ProgramData\\Qlik\\Sense\\Host.cfg');
    expect(new WindowsFiles('qs-rim1').resolve('\\\\fs01\\QlikShare\\Apps')).toBe('\\\\fs01\\QlikShare\\Apps');
    expect(() => new WindowsFiles().resolve('Apps\\x')).toThrow(/not an absolute Windows path/);
    expect(nodeReach({ name: 'rim1', hostname: 'qs-rim1.example.test', role: 'rim', address: 'qs-rim1.example.test' })).toEqual({ via: 'winrm' });
  });
});

describe('WindowsHost certificate stores', () => {
  const set = generateQlikCertSet('qs-win.example.test');
  function withCerts(identity: { user: string; elevated: boolean }) {
    machine();
    const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    m.identity = identity;
    m.accounts = { 'domain\\qservice': { password: "svc 'pa$$' ‘word’" } };
    m.certs = {
      'LocalMachine\\Root': [{ certPem: set.root.certPem, keyPem: set.root.keyPem, exportable: true }],
      'LocalMachine\\My': [{ certPem: set.server.certPem, keyPem: set.server.keyPem, exportable: true }, { certPem: set.serviceCluster.certPem, keyPem: set.serviceCluster.keyPem, exportable: true }],
      'CurrentUser:domain\\qservice\\My': [{ certPem: set.client.certPem, keyPem: set.client.keyPem, exportable: true }],
    };
    fs.writeFileSync(stateFile, JSON.stringify(m));
  }

  it('lists, exports and imports LocalMachine certificates and grants the service account the key', async () => {
    withCerts({ user: 'DOMAIN\\admin', elevated: true });
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      const my = await h.certs.list({ location: 'LocalMachine', name: 'My' });
      expect(my.map((c) => c.subject).sort()).toEqual(['QlikServiceCluster', 'qs-win.example.test']);
      expect(my.find((c) => c.subject === 'qs-win.example.test')).toMatchObject({ qlikExtension: 'Server', hasPrivateKey: true, issuer: 'qs-win.example.test-CA' });
      const server = describeCert(set.server.certPem).thumbprint;
      const pfx = await h.certs.exportPfx({ location: 'LocalMachine', name: 'My' }, server.toLowerCase(), 'export pw');
      expect(describeCert(readPfx(pfx, 'export pw').certPem).thumbprint).toBe(server);
      await h.certs.remove({ location: 'LocalMachine', name: 'My' }, server);
      expect((await h.certs.list({ location: 'LocalMachine', name: 'My' })).map((c) => c.subject)).toEqual(['QlikServiceCluster']);
      const back = await h.certs.importPfx({ location: 'LocalMachine', name: 'My' }, pfx, 'export pw');
      expect(back).toMatchObject({ thumbprint: server, hasPrivateKey: true, subject: 'qs-win.example.test' });
      const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      expect(m.certs['LocalMachine\\My'].find((c: { certPem: string }) => describeCert(c.certPem).thumbprint === server).keyAcl).toEqual(['DOMAIN\\qservice']);
    } finally {
      await h.close();
    }
  });

  it("reaches the service account's CurrentUser store only as that account", async () => {
    withCerts({ user: 'DOMAIN\\admin', elevated: true });
    delete process.env.QSADMIN_SERVICE_ACCOUNT_PASSWORD;
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      await expect(h.certs.list({ location: 'CurrentUser', name: 'My' })).rejects.toThrow(/open only to a process running as DOMAIN\\qservice.*runs as DOMAIN\\admin/);
      process.env.QSADMIN_SERVICE_ACCOUNT_PASSWORD = 'wrong';
      await expect(h.certs.list({ location: 'CurrentUser', name: 'My' })).rejects.toThrow(/user name or password is incorrect/);
      process.env.QSADMIN_SERVICE_ACCOUNT_PASSWORD = "svc 'pa$$' ‘word’";
      fs.writeFileSync(logFile, '');
      const mine = await h.certs.list({ location: 'CurrentUser', name: 'My' });
      expect(mine.map((c) => [c.subject, c.qlikExtension])).toEqual([['QlikClient', 'Client']]);
      expect(recorded().map((r) => [r.script, (r as { as?: string }).as])).toEqual([['machine.as-account', undefined], ['cert.list', 'DOMAIN\\qservice']]);
    } finally {
      delete process.env.QSADMIN_SERVICE_ACCOUNT_PASSWORD;
      await h.close();
    }
    // Run as the service account itself, the session's own CurrentUser store is the account's.
    withCerts({ user: 'domain\\QSERVICE', elevated: true });
    const own = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      expect((await own.certs.list({ location: 'CurrentUser', name: 'My' })).map((c) => c.subject)).toEqual(['QlikClient']);
    } finally {
      await own.close();
    }
    expect(sameAccount('qservice@domain.local', 'DOMAIN\\qservice')).toBe(true);
    expect(sameAccount('DOMAIN\\qservice2', 'DOMAIN\\qservice')).toBe(false);
  });

  it('reports identity, elevation and a pending reboot; an unelevated caller is refused LocalMachine', async () => {
    withCerts({ user: 'DOMAIN\\operator', elevated: false });
    const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    m.rebootPending = ['Windows Update: RebootRequired'];
    fs.writeFileSync(stateFile, JSON.stringify(m));
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      expect(await h.machine.identity()).toMatchObject({ user: 'DOMAIN\\operator', elevated: false });
      expect(await h.machine.rebootPending()).toEqual(['Windows Update: RebootRequired']);
      expect(await h.certs.reachable({ location: 'LocalMachine', name: 'My' })).toMatch(/needs an elevated process.*DOMAIN\\operator/);
      await expect(h.certs.list({ location: 'LocalMachine', name: 'Root' })).rejects.toThrow(/Access is denied/);
    } finally {
      await h.close();
    }
  });
});

describe('the repository database service command line', () => {
  it('gives the bin and data folders of the bundled service and of QPI', async () => {
    const { postgresServiceInfo, splitCommandLine } = await import('../src/host/windows/service-command.js');
    expect(postgresServiceInfo('"C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\12.5\\bin\\pg_ctl.exe" runservice -N "QlikSenseRepositoryDatabase" -D "C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\12.5" -w')).toEqual({
      binDir: 'C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\12.5\\bin', dataDir: 'C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\12.5', serviceName: 'QlikSenseRepositoryDatabase',
    });
    expect(postgresServiceInfo('"D:\\PostgreSQL\\14\\bin\\pg_ctl.exe" runservice -N "postgresql-x64-14" -D"D:\\PostgreSQL\\14\\data" -w')).toMatchObject({ binDir: 'D:\\PostgreSQL\\14\\bin', dataDir: 'D:\\PostgreSQL\\14\\data', serviceName: 'postgresql-x64-14' });
    expect(postgresServiceInfo('"C:\\Program Files\\Qlik\\Sense\\Repository\\Repository.exe" -service')).toBeNull();
    expect(splitCommandLine('a "b c" d\\\\"e f"\\"g')).toEqual(['a', 'b c', 'd\\e f"g']);
  });
});

describe('WindowsHost share capture', () => {
  it('plans a shadow copy for a local NTFS share (UNC of its own SMB share too), a copy while down otherwise', async () => {
    machine();
    const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    Object.assign(m, { identity: { user: 'DOMAIN\\admin', elevated: true, computer: 'QS-WIN' }, smbShares: { QlikShare: 'D:\\QlikShare' }, volumes: { 'D:\\': 'NTFS', 'E:\\': 'FAT32' } });
    fs.writeFileSync(stateFile, JSON.stringify(m));
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      expect(await h.shares.plan('\\\\qs-win.example.test\\QlikShare\\Apps')).toMatchObject({ mode: 'vss', reason: expect.stringMatching(/NTFS volume D:\\/) });
      expect(await h.shares.plan('D:\\QlikShare\\StaticContent')).toMatchObject({ mode: 'vss' });
      expect(await h.shares.plan('\\\\fs01\\QlikShare\\Apps')).toMatchObject({ mode: 'copy-while-down', reason: expect.stringMatching(/another file server/) });
      expect(await h.shares.plan('E:\\Share')).toMatchObject({ mode: 'copy-while-down', reason: expect.stringMatching(/FAT32, not NTFS or ReFS/) });
    } finally {
      await h.close();
    }
    const remote = new WindowsHost(site(), { ...site().nodes[0], reach: { via: 'winrm' } }, { powershell: FAKE });
    expect(await remote.shares.plan('D:\\QlikShare')).toMatchObject({ mode: 'copy-while-down', reason: expect.stringMatching(/another machine/) });
    await remote.close();
  });

  it('takes, finds, releases and reaps shadow copies: the view keeps the files as they were at capture', async () => {
    machine();
    const drives = path.join(dir, 'drives-vss');
    const live = path.join(drives, 'D', 'QlikShare', 'Apps');
    fs.mkdirSync(live, { recursive: true });
    fs.writeFileSync(path.join(live, 'app1'), 'version 1');
    const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    Object.assign(m, { identity: { user: 'DOMAIN\\admin', elevated: true, computer: 'QS-WIN' }, smbShares: { QlikShare: 'D:\\QlikShare' }, volumes: { 'D:\\': 'NTFS' } });
    fs.writeFileSync(stateFile, JSON.stringify(m));
    process.env.QSADMIN_EMULATOR_WINDOWS_ROOT = drives;
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    const folder = '\\\\qs-win.example.test\\QlikShare\\Apps';
    const shadows = () => JSON.parse(fs.readFileSync(stateFile, 'utf8')).shadows.map((c: { id: string }) => c.id);
    try {
      const old = await h.shares.take(folder, { runId: 'run-old', captureId: 'c0', baseId: null }); // a killed run's
      const v = await h.shares.take(folder, { runId: 'run-1', captureId: 'c1', baseId: null });
      expect(v.shadowId).toMatch(/^\{0+-0+-0+-0+-0+2\}$/);
      fs.writeFileSync(path.join(live, 'app1'), 'version 2 written after the capture');
      expect(fs.readFileSync(path.join(v.dir, 'app1'), 'utf8')).toBe('version 1');
      expect(await h.shares.find(folder, 'run-1', 'c1')).toMatchObject({ shadowId: v.shadowId, dir: v.dir });
      expect(await h.shares.find(folder, 'run-1', 'another capture')).toBeNull();
      expect(shadows()).toEqual([old.shadowId, v.shadowId]);
      expect(await h.shares.reap(folder, 'run-1')).toEqual([expect.stringContaining(old.shadowId!)]);
      expect(shadows()).toEqual([v.shadowId]);
      await h.shares.release(folder, 'run-1');
      await h.shares.release(folder, 'run-1'); // twice: the copy step, the undo and the reaper may all try
      expect(shadows()).toEqual([]);
      expect(await h.shares.find(folder, 'run-1', 'c1')).toBeNull();
      expect(fs.readdirSync(path.join(drives, 'C', 'ProgramData', 'qsadmin', 'shadows'))).toEqual([]);
      const sent = recorded().map((r) => r.script).filter((n) => n?.startsWith('shadow.'));
      expect(sent).toEqual(['shadow.locate', 'shadow.create', 'shadow.locate', 'shadow.create', 'shadow.delete', 'shadow.delete']);
    } finally {
      delete process.env.QSADMIN_EMULATOR_WINDOWS_ROOT;
      await h.close();
    }
  });
});

describe('running programs on another node', () => {
  it('joins arguments so that CommandLineToArgvW gives every hostile one back unchanged', () => {
    const tricky = [...HOSTILE, '', ' ', '"', '\\', 'a\\', 'a\\\\"b', '"quoted"', 'C:\\Program Files\\x\\', 'tab\there', '\\\\server\\share'];
    expect(splitCommandLine(joinCommandLine(tricky))).toEqual(tricky);
    for (let i = 0; i < 300; i++) {
      const alphabet = ['a', ' ', '"', '\\', '\t', 'é', "'"];
      const arg = Array.from({ length: i % 9 }, (_, j) => alphabet[(i * 7 + j * 3) % alphabet.length]).join('');
      expect(splitCommandLine(joinCommandLine([arg, 'x']))).toEqual([arg, 'x']);
    }
  });

  it('runs a program through the remote session with its environment, input and exit code', async () => {
    machine();
    const remote = new WindowsHost(site(), { ...site().nodes[0], reach: { via: 'winrm' } }, { powershell: FAKE });
    try {
      const script = 'process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), pw: process.env.PGPASSWORD, input: require("fs").readFileSync(0, "utf8") })); process.exit(3)';
      const r = await remote.exec(process.execPath, ['-e', script, ...HOSTILE], { env: { PGPASSWORD: "p'w $x" }, input: 'from stdin' });
      expect(r.exitCode).toBe(3);
      expect(JSON.parse(r.stdout)).toEqual({ argv: HOSTILE, pw: "p'w $x", input: 'from stdin' });
      const run = recorded().find((x) => x.script === 'process.run')!;
      expect(run.remote).toBe(true);
      expect(String(run.args.CommandLine)).not.toContain("p'w $x"); // the secret travels in Environment only
    } finally {
      await remote.close();
    }
  });
});

describe('private files on Windows', () => {
  it('creates folders and files with the caller-and-SYSTEM ACL through the session, on the node that holds them', async () => {
    machine();
    const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    m.identity = { user: 'DOMAIN\\admin', elevated: true };
    fs.writeFileSync(stateFile, JSON.stringify(m));
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      await h.files.writePrivate("D:\\Backups\\it's ‘set’\\certs\\client.pfx", Buffer.from('pfx bytes'));
    } finally {
      await h.close();
    }
    expect(recorded().map((r) => [r.script, Object.values(r.args)[0]])).toEqual([
      ['file.mkdir-private', "D:\\Backups\\it's ‘set’\\certs"],
      ['file.write-private', "D:\\Backups\\it's ‘set’\\certs\\client.pfx"],
    ]);
    const priv = JSON.parse(fs.readFileSync(stateFile, 'utf8')).private;
    expect(priv["D:\\Backups\\it's ‘set’\\certs\\client.pfx"]).toEqual({ kind: 'file', bytes: 9, acl: ['DOMAIN\\admin', 'NT AUTHORITY\\SYSTEM'] });
  });
});

describe('preflight on the Windows driver', () => {
  it('asks the machine through PowerShell and reports each requirement with its reason', async () => {
    const { runPreflight } = await import('../src/install/preflight.js');
    const drives = tempDir('qsadmin-win-drives-');
    fs.mkdirSync(path.join(drives, 'D', 'QlikShare'), { recursive: true });
    process.env.QSADMIN_EMULATOR_WINDOWS_ROOT = drives;
    machine();
    const m = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    Object.assign(m, {
      inventory: { dotnetRelease: 461808, executionPolicy: 'AllSigned' },
      listening: [4242],
      reachable: ['db01.example.test:4432'],
      dns: { 'qs-win.example.test': ['10.0.0.5'] },
      localAddresses: ['10.0.0.5'],
      accounts: { 'domain\\qservice': { admin: false, password: "svc 'pa$$'" } },
    });
    fs.writeFileSync(stateFile, JSON.stringify(m));
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      const checks = await runPreflight({ role: 'rim', host: h, hostname: 'qs-win.example.test', database: { host: 'db01.example.test', port: 4432 }, share: 'D:\\QlikShare', serviceAccount: { name: 'DOMAIN\\qservice', password: "svc 'pa$$'" } });
      const by = Object.fromEntries(checks.map((c) => [c.id, c]));
      expect(by.os.status).toBe('pass');
      expect(by.dotnet).toMatchObject({ status: 'fail', reason: expect.stringMatching(/release 461808 is older than 4\.8/) });
      expect(by['execution-policy']).toMatchObject({ status: 'fail', reason: expect.stringMatching(/AllSigned: setup runs unsigned PowerShell scripts/) });
      expect(by['caller-password'].status).toBe('warn'); // a domain account: Windows cannot tell
      expect(by.caller.status).toBe('pass');
      expect(by.hostname).toMatchObject({ status: 'pass', reason: 'qs-win.example.test → 10.0.0.5' });
      expect(by.ports).toMatchObject({ status: 'fail', reason: expect.stringMatching(/in use: 4242/) });
      expect(by.database.status).toBe('pass');
      expect(by.share.status).toBe('pass');
      expect(by['service-account']).toMatchObject({ status: 'warn', reason: expect.stringMatching(/not a local administrator/) });
      const scripts = recorded().map((r) => r.script);
      for (const s of ['machine.inventory', 'machine.identity', 'machine.reboot-pending', 'machine.resolve', 'machine.ports-in-use', 'machine.can-connect', 'machine.account']) expect(scripts).toContain(s);
      expect(fs.readdirSync(path.join(drives, 'D', 'QlikShare'))).toEqual([]); // the probe file is gone
      // A wrong password is a failure, an unknown account too.
      const wrong = await runPreflight({ role: 'central', host: h, hostname: 'qs-win.example.test', serviceAccount: { name: 'DOMAIN\\qservice', password: 'nope' } });
      expect(wrong.find((c) => c.id === 'service-account')).toMatchObject({ status: 'fail', reason: expect.stringMatching(/password given .* is wrong/) });
      const nobody = await runPreflight({ role: 'central', host: h, hostname: 'qs-other.example.test', serviceAccount: { name: 'DOMAIN\\nobody' } });
      expect(nobody.find((c) => c.id === 'service-account')).toMatchObject({ status: 'fail', reason: expect.stringMatching(/does not exist/) });
      expect(nobody.find((c) => c.id === 'hostname')).toMatchObject({ status: 'fail', reason: expect.stringMatching(/does not resolve/) });
    } finally {
      await h.close();
      delete process.env.QSADMIN_EMULATOR_WINDOWS_ROOT;
    }
  });
});
