// The command lines of Qlik's installers as the Windows driver sends them: `db upgrade`'s Qlik_PostgreSQL_setup.exe and
// msiexec lines, and `upgrade`/`patch`/`repair`'s Qlik_Sense_setup.exe and Qlik_Sense_update.exe lines, built by the
// runbooks' own builders and run through WindowsHost.exec on a node reached by PowerShell remoting (the recording
// fake PowerShell parses every script with the real grammar and plays the programs). Asserted: the exact command
// line, and the arguments the program gets back from it by CommandLineToArgvW's rules.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WindowsHost } from '../src/host/windows/index.js';
import { PROCESS_RUN } from '../src/host/windows/ps/process.js';
import { msiexecClientInstall, msiexecUninstall, qpiArgs } from '../src/runbooks/db-upgrade.js';
import { upgradeSetupArgs } from '../src/runbooks/qlik-upgrade.js';
import { patchUpdateArgs, repairSetupArgs } from '../src/runbooks/qlik-patch.js';
import type { SiteConfig } from '../src/site/model.js';
import { ROOT } from './helpers/cli.js';
import { powershellErrors } from './helpers/powershell.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const FAKE = path.join(ROOT, 'test', 'fixtures', 'powershell', 'fake-powershell.mjs');
const SETUP = 'C:\\Installers\\May 2025\\Qlik_Sense_setup.exe';
const UPDATE = 'C:\\Installers\\Qlik_Sense_update.exe';
const QPI = 'C:\\Installers\\Qlik_PostgreSQL_setup.exe';
const MSIEXEC = 'C:\\Windows\\System32\\msiexec.exe';
const SETUP_LOG = 'C:\\ProgramData\\qsadmin\\upgrade\\upgrade-20261202-0800\\Qlik_Sense_setup.log';
const OLD_MSI = 'C:\\ProgramData\\Package Cache\\{6A1D2C3E-0F4B-4E55-9A21-7C2D1E5B1250}\\PostgreSQL125.msi';
// passwords as administrators choose them: spaces, quotes, a trailing backslash
const USER_PW = 'svc pa"ss\\';
const DB_PW = "db 'pw' $x";

let dir: string;
let stateFile: string;
let logFile: string;
let host: WindowsHost;

const site = (): SiteConfig => ({
  name: 'win-setup-lines',
  driver: 'windows',
  nodes: [{ name: 'central', hostname: 'qs-central.example.test', role: 'central', address: 'qs-central.example.test', reach: { via: 'winrm' } }],
  database: { host: 'qs-central.example.test', port: 4432, service: 'QlikSenseRepositoryDatabase', node: 'central', superuser: 'postgres', passwordEnv: 'QSADMIN_DB_PASSWORD' },
  serviceAccount: 'DOMAIN\\qservice',
  shareRoot: '\\\\fs01\\QlikShare',
});

const runs = () => fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { script: string; args: Record<string, unknown>; remote?: boolean }).filter((e) => e.script === 'process.run');

beforeAll(() => {
  dir = tempDir('qsadmin-winsetup-');
  stateFile = path.join(dir, 'machine.json');
  logFile = path.join(dir, 'ps.log');
  Object.assign(process.env, { QSADMIN_EMULATOR_PS_STATE: stateFile, QSADMIN_EMULATOR_PS_LOG: logFile });
  const programs = Object.fromEntries([SETUP, UPDATE, QPI, MSIEXEC].map((f) => [f.toLowerCase(), { exitCode: 0 }]));
  fs.writeFileSync(stateFile, JSON.stringify({ identity: { user: 'DOMAIN\\admin', elevated: true, computer: 'QS-CENTRAL' }, programs }));
  fs.writeFileSync(logFile, '');
  host = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
});

afterAll(async () => {
  await host?.close();
  cleanupTempDirs();
});

// Run one line through the driver; returns the recorded command line and the argv the program got.
async function send(file: string, args: string[], opts: { verbatim?: boolean; cwd?: string } = {}) {
  const before = runs().length;
  const r = await host.exec(file, args, opts);
  expect(r.exitCode).toBe(0);
  const rec = runs()[before];
  expect(rec.remote).toBe(true);
  expect(rec.args.File).toBe(file);
  return { line: String(rec.args.CommandLine), argv: JSON.parse(r.stdout) as string[], rec };
}

describe('the installers\' command lines on the Windows driver', () => {
  it('the script that runs them parses with the PowerShell grammar', async () => {
    expect(await powershellErrors(PROCESS_RUN.text)).toEqual([]);
  });

  it('upgrade: Qlik_Sense_setup.exe -s -l <log> accepteula=1 ... userpassword dbpassword, quoted for CommandLineToArgvW', async () => {
    const args = upgradeSetupArgs(SETUP_LOG, USER_PW, DB_PW);
    const { line, argv } = await send(SETUP, args);
    expect(line).toBe(`-s -l ${SETUP_LOG} accepteula=1 desktopshortcut=0 keepcurrentsettings=1 skipstartservices=1 "userpassword=svc pa\\"ss\\\\" "dbpassword=db 'pw' $x"`);
    expect(argv).toEqual(args); // setup gets every argument back unchanged
    const rim = await send(SETUP, upgradeSetupArgs(SETUP_LOG, 'plain'));
    expect(rim.line).toBe(`-s -l ${SETUP_LOG} accepteula=1 desktopshortcut=0 keepcurrentsettings=1 skipstartservices=1 userpassword=plain`); // no dbpassword on a rim
  });

  it('patch and repair: Qlik_Sense_update.exe install log=<path>; Qlik_Sense_setup.exe -s -repair -l <path>', async () => {
    const log = 'C:\\ProgramData\\qsadmin\\patch\\patch-1\\Qlik_Sense_update.log';
    expect((await send(UPDATE, patchUpdateArgs(log))).line).toBe(`install log=${log}`);
    const spaced = 'C:\\Users\\Some Admin\\AppData\\Local\\Temp\\update.log';
    const p = await send(UPDATE, patchUpdateArgs(spaced));
    expect(p.line).toBe(`install "log=${spaced}"`);
    expect(p.argv).toEqual(['install', `log=${spaced}`]);
    expect((await send(SETUP, repairSetupArgs(SETUP_LOG))).line).toBe(`-s -repair -l ${SETUP_LOG}`);
  });

  it('db upgrade: QPI -silent acceptqca=1 -log= qpiconfig= (no password on the line); msiexec lines verbatim, as the guide writes them', async () => {
    const cfg = 'C:\\ProgramData\\qsadmin\\qpi\\db-upgrade-1\\qpiconfig.xml';
    const qlog = 'C:\\ProgramData\\qsadmin\\qpi\\db-upgrade-1\\qpi.log';
    const q = await send(QPI, qpiArgs(qlog, cfg));
    expect(q.line).toBe(`-silent acceptqca=1 -log=${qlog} qpiconfig=${cfg}`);
    const un = msiexecUninstall(OLD_MSI);
    const x = await send(MSIEXEC, un.args, { verbatim: un.verbatim });
    expect(x.line).toBe(`/x "${OLD_MSI}" /qn /norestart`);
    expect(x.argv).toEqual(['/x', OLD_MSI, '/qn', '/norestart']);
    const inst = msiexecClientInstall('PostgreSQL14.msi', 'C:\\Program Files\\Qlik\\Sense');
    const i = await send(MSIEXEC, inst.args, { verbatim: inst.verbatim, cwd: 'C:\\ProgramData\\Package Cache\\{0B7E4F21-93C6-4D18-8E0A-5F3B2C7D1400}' });
    // the guide's line (§2.6), character for character
    expect(i.line).toBe('/qb /i "PostgreSQL14.msi" SKIPINSTALLDBSERVICE="1" INSTALLDIR="C:\\Program Files\\Qlik\\Sense"');
    expect(i.rec.args.WorkingDirectory).toBe('C:\\ProgramData\\Package Cache\\{0B7E4F21-93C6-4D18-8E0A-5F3B2C7D1400}');
    expect(i.argv).toEqual(['/qb', '/i', 'PostgreSQL14.msi', 'SKIPINSTALLDBSERVICE=1', 'INSTALLDIR=C:\\Program Files\\Qlik\\Sense']);
  });
});
