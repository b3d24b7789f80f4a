// A site built the way a real one is: bare emulated Windows nodes, `qsadmin install --silent` (the emulated
// Qlik_Sense_setup.exe with the documented arguments and spc), `qsadmin cluster join` over the QRS API with the
// certificate unlock on the rim's localhost port 4570, `cluster status`, `cluster remove`, `uninstall`; the §8.11
// exit codes, the spc rules and bad input that must stop before anything is installed.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareNodes, SETUP_EXE } from '../src/emulator/bare.js';
import { destroySite } from '../src/emulator/site.js';
import { nodeProcesses, signal } from '../src/emulator/services/reaper.js';
import { describeSetupExit, normaliseExitCode, SETUP_EXIT_CODES } from '../src/install/exit-codes.js';
import { characterSets, parseSpc, renderSpc, serviceUserProblem, validateSpc, type SpcValues } from '../src/install/spc.js';
import { scanSetupLog } from '../src/install/setup-log.js';
import { parseSetupArgs, redactSetupArgs } from '../src/emulator/setup/args.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const OFFSET = 31000;
const SECRETS = { QSADMIN_SERVICE_PASSWORD: 'Svc-pass-1x', QSADMIN_DB_PASSWORD: 'Super-pass-1x', QSADMIN_REPOSITORY_PASSWORD: 'Repo-pass-1x' };
const NODES = [
  { name: 'central', hostname: 'qs-central.install.test', address: '127.0.0.92' },
  { name: 'rim1', hostname: 'qs-rim1.install.test', address: '127.0.0.93' },
  { name: 'rim2', hostname: 'qs-rim2.install.test', address: '127.0.0.94' },
];
// The guide's §8.11 table, as written there ("complete list").
const GUIDE_8_11: Array<[number, string]> = [
  [0, 'Success'], [-1, 'General fatal error'], [-2, 'Command line parsing error'], [-3, 'Not implemented error'], [-4, 'Downgrade'],
  [-5, 'Malformed bundle XML'], [-6, 'Install condition not met'], [-7, 'Unknown upgrade scenario'], [-8, 'Pending reboot must be applied first'],
  [-9, 'Patch run with no baseline installed'], [-10, 'Disallowed setup process running'], [-11, 'Unsupported minor upgrade error'], [-12, 'Invalid policy'],
  [-13, 'User validation failed'], [-14, 'Database superuser password validation error'], [-15, 'Not supported error'], [-16, 'Host name from certificate retrieval error'],
  [-17, 'Inconsistent upgrade'], [-18, 'General silent workflow error'], [-19, 'OS bitness not supported'], [-20, 'OS too old'], [-21, 'OS type not supported'],
  [-22, 'Patch is superseded'], [-23, 'General MSI Error'], [-24, 'Disabled services exist'], [-1335, 'CAB is corrupt'], [-1601, 'Disk space'],
  [-1602, 'User exit'], [-1923, 'Cannot install service'], [-7777, 'Unknown dark process exception'],
];

let dir: string;
let state: string;
let siteFile: string;
const root = (n: string) => path.join(dir, 'nodes', n);
const env = (extra: Record<string, string> = {}) => ({ ...SECRETS, ...extra });

function machine(n: string, change: Record<string, unknown>): () => void {
  const file = path.join(root(n), '.emulator', 'machine.json');
  const before = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(before), ...change }));
  return () => fs.writeFileSync(file, before);
}

function installArgs(role: 'central' | 'rim', node: string, extra: string[] = []): string[] {
  return ['install', '--silent', '--role', role, '--setup', SETUP_EXE, '--emulated-node', root(node), '--share', path.join(dir, 'share'),
    '--service-account', 'EMULATED\\qservice', '--state-dir', state, ...(role === 'central' ? ['--out', siteFile] : ['--site', siteFile]), ...extra];
}

const installed = (n: string) => (JSON.parse(fs.readFileSync(path.join(root(n), '.emulator', 'machine-facts.json'), 'utf8')) as { services: unknown[] }).services.length;
const unlockRequests = (n: string) => {
  const logDir = path.join(root(n), 'ProgramData', 'Qlik', 'Sense', 'Log', 'Repository', 'System');
  return fs.readdirSync(logDir).map((f) => fs.readFileSync(path.join(logDir, f), 'utf8')).join('').split('Certificate unlock request received').length - 1;
};

beforeAll(() => {
  dir = tempDir('qsadmin-install-');
  state = path.join(dir, 'state');
  siteFile = path.join(dir, 'site.json');
  createBareNodes({ dir, nodes: NODES, portOffset: OFFSET, serviceAccount: { name: 'EMULATED\\qservice', password: SECRETS.QSADMIN_SERVICE_PASSWORD } });
  fs.mkdirSync(path.join(dir, 'share'), { mode: 0o755 });
});

afterAll(async () => {
  if (fs.existsSync(siteFile)) await destroySite(dir).catch(() => undefined);
  for (const n of NODES) if (fs.existsSync(root(n.name))) for (const pid of nodeProcesses(root(n.name))) signal(pid, 'SIGKILL');
  cleanupTempDirs();
});

describe('setup exit codes, arguments, spc rules (guide §4.1, §8.11)', () => {
  it('maps every code of the guide\'s table to its message, unsigned codes first normalised', () => {
    expect(Object.keys(SETUP_EXIT_CODES).length).toBe(GUIDE_8_11.length);
    for (const [code, meaning] of GUIDE_8_11) {
      expect(describeSetupExit(code)).toEqual({ code, meaning, known: true });
      expect(describeSetupExit(code >>> 0)).toEqual({ code, meaning, known: true }); // as Node on Windows reports it
    }
    expect(normaliseExitCode(4294967295)).toBe(-1);
    expect(describeSetupExit(-99).known).toBe(false);
  });

  it('parses only the documented command line: deprecated arguments warn, unknown ones fail, secrets are redacted', () => {
    const a = parseSetupArgs(['-s', '-l', 'C:\\log.txt', 'spc="C:\\a b\\spc.cfg"', 'accepteula=1', 'rimnode=1', 'QLogsPort=4432', 'userpassword=p w']);
    expect(a).toMatchObject({ silent: true, log: 'C:\\log.txt', values: { sharedpersistenceconfig: 'C:\\a b\\spc.cfg', accepteula: '1', userpassword: 'p w' } });
    expect(a.warnings).toHaveLength(2);
    expect(() => parseSetupArgs(['-s', 'acceptEula=yes'])).toThrow(/takes 1 or 0/);
    expect(() => parseSetupArgs(['-s', 'installpath=C:\\x'])).toThrow(/unknown argument "installpath"/);
    expect(() => parseSetupArgs(['-uninstall'])).toThrow(/with -silent/);
    expect(() => parseSetupArgs(['-s', 'cleanup=1'])).toThrow(/only for -silent -uninstall/);
    expect(redactSetupArgs(['userpassword=x', 'dbpassword=y', 'hostname=h'])).toEqual(['userpassword=***', 'dbpassword=***', 'hostname=h']);
  });

  it('checks every spc rule of the guide and round-trips the template', () => {
    const good: SpcValues = { DbUserName: 'qliksenserepository', DbUserPassword: 'Pw1', DbHost: 'db', DbPort: '4432', RootDir: '\\\\fs\\s', StaticContentRootDir: '\\\\fs\\s\\StaticContent', ArchivedLogsDir: '\\\\fs\\s\\ArchivedLogs', AppsDir: '\\\\fs\\s\\Apps', CreateCluster: 'true', InstallLocalDb: 'true', DbMaximumConnectionPoolSize: '90' };
    expect(validateSpc(good)).toEqual([]);
    const text = renderSpc(good);
    expect(text).not.toMatch(/<JoinCluster>|<ListenAddresses>/); // elements not set are left out, never both clusters
    expect(parseSpc(text).values).toEqual(good);
    const bad = (change: SpcValues, pattern: RegExp) => expect(validateSpc({ ...good, ...change }).join('\n')).toMatch(pattern);
    bad({ JoinCluster: 'true' }, /both <CreateCluster> and <JoinCluster>/);
    bad({ CreateCluster: undefined }, /neither <CreateCluster> nor <JoinCluster>|InstallLocalDb> is true without/);
    bad({ CreateCluster: undefined, JoinCluster: 'true' }, /InstallLocalDb> is true without <CreateCluster>/);
    bad({ ConfigureDbListener: 'true' }, /ListenAddresses> is not set[\s\S]*IpRange> is not set/);
    bad({ ConfigureDbListener: 'true', ListenAddresses: '*', IpRange: '10.0.0.0/33' }, /IpRange> has "10.0.0.0\/33"/);
    bad({ DbMaximumConnectionPoolSize: '89' }, /90 to 1000/);
    bad({ DbMaximumConnectionPoolSize: '1001' }, /90 to 1000/);
    bad({ DbUserName: 'Postgres' }, /must not be the superuser/);
    bad({ DbUserPassword: 'пароль' }, /mix character sets \(Latin, Cyrillic\)/);
    bad({ DbPort: '70000' }, /port number/);
    expect(validateSpc(good, ['DbUsername'])).toEqual([expect.stringMatching(/<DbUsername> is not a shared persistence setting/)]);
    expect(characterSets('Pässwörd-12')).toEqual(['Latin']);
    expect(serviceUserProblem('DOMAIN\\averyveryverylongusername')).toMatch(/UPN/);
    expect(serviceUserProblem('averyveryverylongusername@corp.example.com')).toBeNull();
    expect(serviceUserProblem('qservice')).toMatch(/DOMAIN\\user/);
  });

  it('finds the failing package in a Burn log', () => {
    const log = '[0A:01][t]i000: Applying execute package: QlikSenseRepositoryDatabase\r\n[0A:01][t]e000: Error 0x80070643: Failed to execute MSI package.\r\n[0A:01][t]e000: Error -23: x\r\n';
    expect(scanSetupLog(log)).toEqual({ packages: ['QlikSenseRepositoryDatabase'], errors: ['Error 0x80070643: Failed to execute MSI package.', 'Error -23: x'] });
  });
});

describe('install and join on bare emulated nodes', () => {
  it('refuses bad input before anything is installed (exit 2)', async () => {
    // .NET 4.7.2: preflight fails; without preflight, setup itself exits -6 (a silent install cannot install .NET).
    let undo = machine('central', { dotnetRelease: 461808 });
    let r = await qsadmin(installArgs('central', 'central'), { env: env() });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/FAIL {2}\.NET Framework 4\.8: release 461808/);
    r = await qsadmin(installArgs('central', 'central', ['--skip-preflight']), { env: env() });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/setup exited -6 \(Install condition not met, guide §8\.11\)[\s\S]*failing component: NetFx48[\s\S]*nothing was installed/);
    undo();
    // A pending reboot: setup's -8.
    undo = machine('central', { rebootPending: ['Windows Update: RebootRequired'] });
    r = await qsadmin(installArgs('central', 'central', ['--skip-preflight']), { env: env() });
    expect(r.stderr).toMatch(/setup exited -8 \(Pending reboot must be applied first/);
    expect(r.exitCode).toBe(2);
    undo();
    // The service account's password is wrong: preflight, then setup's -13.
    r = await qsadmin(installArgs('central', 'central'), { env: env({ QSADMIN_SERVICE_PASSWORD: 'nope' }) });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/the password given for EMULATED\\qservice is wrong/);
    r = await qsadmin(installArgs('central', 'central', ['--skip-preflight']), { env: env({ QSADMIN_SERVICE_PASSWORD: 'nope' }) });
    expect(r.stderr).toMatch(/setup exited -13 \(User validation failed/);
    // An spc that breaks a rule.
    const spc = path.join(root('central'), 'Installers', 'spc.cfg');
    fs.writeFileSync(spc, renderSpc({ DbUserName: 'postgres', DbUserPassword: 'x', DbHost: NODES[0].address, DbPort: String(4432 + OFFSET), RootDir: dir, StaticContentRootDir: dir, ArchivedLogsDir: dir, AppsDir: dir, CreateCluster: 'true', JoinCluster: 'true' }));
    r = await qsadmin([...installArgs('central', 'central'), '--spc', 'C:\\Installers\\spc.cfg'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/both <CreateCluster> and <JoinCluster>[\s\S]*"postgres"/);
    // A port this node needs is taken.
    const net = await import('node:net');
    const squatter = net.createServer().listen(4242 + OFFSET, NODES[0].address);
    await new Promise((res) => squatter.once('listening', res));
    r = await qsadmin(installArgs('central', 'central'), { env: env() });
    await new Promise((res) => squatter.close(res));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/Ports free on this node: in use: 4242/);
    // A rim without the site config it joins.
    r = await qsadmin(['install', '--silent', '--role', 'rim', '--setup', SETUP_EXE, '--emulated-node', root('rim1'), '--share', dir, '--service-account', 'EMULATED\\qservice', '--site', path.join(dir, 'none.json')], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot read site config/);
    expect(NODES.map((n) => installed(n.name))).toEqual([0, 0, 0]);
    expect(fs.existsSync(siteFile)).toBe(false);
  });

  it('installs the central node: servicestate 2, the site config written, the spc deleted, no password in any output', async () => {
    const r = await qsadmin([...installArgs('central', 'central'), '--json'], { env: env(), timeout: 240_000 });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const site = JSON.parse(fs.readFileSync(siteFile, 'utf8'));
    expect(site).toMatchObject({ driver: 'emulated', serviceAccount: 'EMULATED\\qservice', nodes: [{ name: 'central', hostname: NODES[0].hostname, role: 'central', address: NODES[0].address, portOffset: OFFSET }], database: { service: 'QlikSenseRepositoryDatabase', port: 4432 + OFFSET, host: NODES[0].address } });
    expect(installed('central')).toBe(7); // the database service and six Qlik services
    const runDir = fs.readdirSync(path.join(root('central'), 'ProgramData', 'qsadmin', 'install'))[0];
    const onNode = fs.readdirSync(path.join(root('central'), 'ProgramData', 'qsadmin', 'install', runDir));
    expect(onNode).toEqual(['Qlik_Sense_setup.log']); // spc.xml deleted
    const setupLog = fs.readFileSync(path.join(root('central'), 'ProgramData', 'qsadmin', 'install', runDir, 'Qlik_Sense_setup.log'), 'utf8');
    expect(setupLog).toMatch(/userpassword=\*\*\* dbpassword=\*\*\*/);
    const everything = [r.stdout, r.stderr, ...walk(state).map((f) => fs.readFileSync(f, 'utf8')), setupLog].join('\n');
    for (const s of Object.values(SECRETS)) expect(everything).not.toContain(s);
    const status = await qsadmin(['cluster', 'status', '--site', siteFile, '--json', '--state-dir', state]);
    expect(status.exitCode, status.stdout).toBe(0);
  });

  it('installs two rims, which wait at servicestate 1 until they are joined', async () => {
    // Preflight of a rim against a database that does not answer: FAIL, exit 4.
    const pre = await qsadmin(['preflight', '--role', 'rim', '--emulated-node', root('rim1'), '--site', siteFile, '--db-host', '127.0.0.99', '--db-port', '1', '--json', '--state-dir', state], { env: env() });
    expect(pre.exitCode, pre.stderr).toBe(4);
    const checks = (JSON.parse(pre.stdout) as { checks: Array<{ id: string; status: string }> }).checks;
    expect(checks.find((c) => c.id === 'database')?.status).toBe('fail');
    expect(checks.find((c) => c.id === 'to-central')?.status).toBe('pass');
    expect(checks.find((c) => c.id === 'service-account')?.status).toBe('pass');
    for (const rim of ['rim1', 'rim2']) {
      const r = await qsadmin(installArgs('rim', rim), { env: env() });
      expect(r.exitCode, r.stderr + r.stdout).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/servicestate 1/);
    }
    const site = JSON.parse(fs.readFileSync(siteFile, 'utf8'));
    expect(site.nodes.map((n: { name: string }) => n.name)).toEqual(['central', 'rim1', 'rim2']);
    expect(fs.existsSync(`${siteFile}.bak`)).toBe(true);
    const status = await qsadmin(['cluster', 'status', '--site', siteFile, '--json', '--state-dir', state]);
    expect(status.exitCode).toBe(4);
    expect(JSON.parse(status.stdout).nodes[1]).toMatchObject({ name: 'rim1', qrs: null, servicestate: 1, problems: expect.arrayContaining([expect.stringMatching(/not joined/)]) });
  });

  it('joins rim1, and rim2 through two kills (before and after the unlock) posting the password once', async () => {
    const join = (rim: string, extra: Record<string, string> = {}) => qsadmin(['cluster', 'join', '--rim', rim, '--site', siteFile, '--state-dir', state, '--json'], { env: { QSADMIN_DB_PASSWORD: SECRETS.QSADMIN_DB_PASSWORD, ...extra } });
    let r = await join('rim1');
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(unlockRequests('rim1')).toBe(1);

    r = await join('rim2', { QSADMIN_FAULT: 'kill-at:cluster.join.before-unlock' });
    expect(r.exitCode).not.toBe(0);
    const runId = newestRun(state, 'cluster-join');
    expect(unlockRequests('rim2')).toBe(0);
    r = await qsadmin(['runs', 'resume', runId, '--state-dir', state], { env: { QSADMIN_DB_PASSWORD: SECRETS.QSADMIN_DB_PASSWORD, QSADMIN_FAULT: 'kill-at:cluster.join.after-unlock' } });
    expect(r.exitCode).not.toBe(0);
    expect(unlockRequests('rim2')).toBe(1);
    r = await qsadmin(['runs', 'resume', runId, '--state-dir', state, '--json'], { env: { QSADMIN_DB_PASSWORD: SECRETS.QSADMIN_DB_PASSWORD } });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(unlockRequests('rim2')).toBe(1); // decided from the rim's state: no second POST after the unlock

    const status = await qsadmin(['cluster', 'status', '--site', siteFile, '--json', '--state-dir', state]);
    expect(status.exitCode, status.stdout).toBe(0);
    const s = JSON.parse(status.stdout) as { healthy: boolean; nodes: Array<{ servicestate: number; services: Array<{ state: string }>; qrs: unknown }> };
    expect(s.nodes).toHaveLength(3);
    for (const n of s.nodes) {
      expect(n.servicestate).toBe(2);
      expect(n.qrs).not.toBeNull();
      expect(n.services.every((x) => x.state === 'running')).toBe(true);
    }
    // The join's journal and log never saw the unlock password or the database password.
    for (const f of walk(path.join(state, 'runs', runId))) expect(fs.readFileSync(f, 'utf8')).not.toContain(SECRETS.QSADMIN_DB_PASSWORD);
  });

  it('refuses to uninstall the central node while rims are registered; removes a rim and uninstalls it', async () => {
    let r = await qsadmin(['uninstall', '--silent', '--node', 'central', '--setup', SETUP_EXE, '--site', siteFile, '--state-dir', state, '--yes'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/2 rim node\(s\) are registered/);
    r = await qsadmin(['uninstall', '--silent', '--node', 'rim2', '--setup', SETUP_EXE, '--cleanup', '--site', siteFile, '--state-dir', state, '--dry-run'], { env: env() });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/local licence and any patches are removed/);
    r = await qsadmin(['cluster', 'remove', '--rim', 'rim2', '--site', siteFile, '--state-dir', state], { env: env() });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(JSON.parse(fs.readFileSync(siteFile, 'utf8')).nodes.map((n: { name: string }) => n.name)).toEqual(['central', 'rim1']);
    const status = JSON.parse((await qsadmin(['cluster', 'status', '--site', siteFile, '--json', '--state-dir', state])).stdout) as { nodes: unknown[]; unknownToConfig: string[] };
    expect(status.nodes).toHaveLength(2);
    expect(status.unknownToConfig).toEqual([]);
    // rim2 is no longer in the site config: uninstall it through a config that still names it (the .bak).
    fs.copyFileSync(`${siteFile}.bak`, path.join(dir, 'with-rim2.json'));
    r = await qsadmin(['uninstall', '--silent', '--node', 'rim2', '--setup', SETUP_EXE, '--cleanup', '--site', path.join(dir, 'with-rim2.json'), '--state-dir', state, '--yes'], { env: env() });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(installed('rim2')).toBe(0);
    expect(nodeProcesses(root('rim2'))).toEqual([]);
    expect(fs.existsSync(path.join(root('rim2'), 'ProgramData', 'Qlik', 'Sense'))).toBe(false);
  });
});

function walk(d: string): string[] {
  if (!fs.existsSync(d)) return [];
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
}
