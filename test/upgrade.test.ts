// Upgrade, patch and repair of a site built the way a real one is: three bare emulated Windows nodes installed by the
// emulated Qlik_Sense_setup.exe of an older release (May 2024) and joined, then `qsadmin upgrade` with the setup file
// of May 2025, `qsadmin repair`, `qsadmin patch` with Qlik_Sense_update.exe (May 2025 Patch 2). Afterwards every
// node's /qrs/about reports the new build and the row counts and the share are as before. Each refusal exits 2 with
// nothing changed; the emulated setup's and update's own refusals carry their exit codes; an upgrade killed in a step
// and resumed with `qsadmin runs resume` finishes.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareNodes, placeSetupFile, placeUpdateFile, SETUP_EXE, UPDATE_EXE } from '../src/emulator/bare.js';
import { destroySite } from '../src/emulator/site.js';
import { nodeProcesses, signal } from '../src/emulator/services/reaper.js';
import { installedRelease, patchNeedsRootCert, releaseOrder, rootCertMustBeRecreated, upgradePathProblem } from '../src/installer/releases.js';
import { rowCounts, userDatabases } from '../src/postgres/move.js';
import { qsadmin } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { journal, runIds } from './reliability/harness.js';

const OFFSET = 52000;
const SECRETS = { QSADMIN_SERVICE_PASSWORD: 'Upg-svc-pass-1', QSADMIN_DB_PASSWORD: 'Upg-super-pass-1', QSADMIN_REPOSITORY_PASSWORD: 'Upg-repo-pass-1', QSADMIN_CERT_PASSWORD: 'Upg-pfx-pass-1' };
const NODES = [
  { name: 'central', hostname: 'qs-central.upgrade.test', address: '127.0.0.4' },
  { name: 'rim1', hostname: 'qs-rim1.upgrade.test', address: '127.0.0.5' },
  { name: 'rim2', hostname: 'qs-rim2.upgrade.test', address: '127.0.0.6' },
];
const OLD = { name: 'May 2024', version: '14.187.4' };
const NEW = { name: 'May 2025', version: '14.222.5' };
const PATCH = { name: 'May 2025', version: '14.222.7', patch: 2 };
const NEW_SETUP = 'C:\\Installers\\May 2025\\Qlik_Sense_setup.exe';
const OLDER_SETUP = 'C:\\Installers\\February 2024\\Qlik_Sense_setup.exe';
const PROXY_CONFIG = 'C:\\Program Files\\Qlik\\Sense\\Proxy\\Proxy.exe.config';
const CAPABILITIES = 'C:\\Program Files\\Qlik\\Sense\\CapabilityService\\Capabilities.json';

let dir: string;
let state: string;
let siteFile: string;
const root = (n: string) => path.join(dir, 'nodes', n);
const onNode = (n: string, win: string) => path.join(root(n), ...win.slice(3).split('\\'));
const env = (extra: Record<string, string> = {}) => ({ ...SECRETS, ...extra });
const products = (n: string) => JSON.parse(fs.readFileSync(path.join(root(n), '.emulator', 'products.json'), 'utf8')) as Array<{ name: string; version: string }>;
const release = (n: string) => installedRelease(products(n));

function machine(n: string, change: Record<string, unknown>): () => void {
  const file = path.join(root(n), '.emulator', 'machine.json');
  const before = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(before), ...change }));
  return () => fs.writeFileSync(file, before);
}

// What must not change: every node's products and services, the row counts of every database, the share.
function shareHash(): string {
  const h = createHash('sha256');
  const share = path.join(dir, 'share');
  for (const f of (fs.readdirSync(share, { recursive: true }) as string[]).sort()) {
    const p = path.join(share, f);
    if (fs.statSync(p).isFile()) h.update(f).update(fs.readFileSync(p));
  }
  return h.digest('hex');
}

async function counts(): Promise<Record<string, number>> {
  const site = JSON.parse(fs.readFileSync(siteFile, 'utf8')) as { database: { host: string; port: number } };
  const conn = { host: site.database.host, port: site.database.port, user: 'postgres', password: SECRETS.QSADMIN_DB_PASSWORD, database: 'postgres' };
  return rowCounts(conn, await userDatabases(conn));
}

async function snapshot() {
  const status = await qsadmin(['cluster', 'status', '--site', siteFile, '--json', '--state-dir', state], { env: env() });
  const nodes = (JSON.parse(status.stdout) as { nodes: Array<{ name: string; servicestate: number; services: Array<{ name: string; state: string }> }> }).nodes;
  return { products: NODES.map((n) => products(n.name)), services: nodes.map((n) => [n.name, n.servicestate, n.services.map((s) => s.state).join(',')]) };
}

// Run a file on a node through the emulated host, as qsadmin does.
async function run(node: string, file: string, args: string[], opts: { user?: string } = {}) {
  const { loadSiteConfig } = await import('../src/site/config.js');
  const { openHost } = await import('../src/host/index.js');
  const site = loadSiteConfig(siteFile);
  const undo = opts.user ? machine(node, { user: opts.user }) : () => undefined;
  const h = await openHost(site, site.nodes.find((n) => n.name === node)!);
  try {
    return (await h.exec(file, args)).exitCode | 0;
  } finally {
    await h.close();
    undo();
  }
}

const upgradeArgs = (extra: string[] = []) => ['upgrade', '--setup', NEW_SETUP, '--release', NEW.name, '--site', siteFile, '--state-dir', state, '--backup-to', path.join(dir, 'backups'), '--json', ...extra];

beforeAll(async () => {
  dir = tempDir('qsadmin-upgrade-');
  state = path.join(dir, 'state');
  siteFile = path.join(dir, 'site.json');
  createBareNodes({ dir, nodes: NODES, portOffset: OFFSET, serviceAccount: { name: 'EMULATED\\qservice', password: SECRETS.QSADMIN_SERVICE_PASSWORD } });
  fs.mkdirSync(path.join(dir, 'share'), { mode: 0o755 });
  for (const n of NODES) {
    placeSetupFile(root(n.name), SETUP_EXE, OLD);
    placeSetupFile(root(n.name), NEW_SETUP, NEW);
    placeSetupFile(root(n.name), OLDER_SETUP, { name: 'February 2024', version: '14.173.3' });
    placeUpdateFile(root(n.name), UPDATE_EXE, PATCH);
  }
  const common = (n: string) => ['--silent', '--setup', SETUP_EXE, '--emulated-node', root(n), '--share', path.join(dir, 'share'), '--service-account', 'EMULATED\\qservice', '--state-dir', state];
  const must = async (args: string[]) => {
    const r = await qsadmin(args, { env: env(), timeout: 240_000 });
    if (r.exitCode !== 0) throw new Error(`qsadmin ${args.slice(0, 3).join(' ')}: exit ${r.exitCode}\n${r.stderr.slice(-3000)}`);
  };
  await must(['install', '--role', 'central', ...common('central'), '--out', siteFile]);
  for (const n of ['rim1', 'rim2']) await must(['install', '--role', 'rim', ...common(n), '--site', siteFile]);
  for (const n of ['rim1', 'rim2']) await must(['cluster', 'join', '--rim', n, '--site', siteFile, '--state-dir', state]);
}, 300_000);

afterAll(async () => {
  if (fs.existsSync(siteFile)) await destroySite(dir).catch(() => undefined);
  for (const n of NODES) if (fs.existsSync(root(n.name))) for (const pid of nodeProcesses(root(n.name))) signal(pid, 'SIGKILL');
  cleanupTempDirs();
});

describe('release facts (guide §3.3, §4.2, §4.4)', () => {
  it('orders releases and numbered versions, and knows the upgrade path', () => {
    expect(releaseOrder('3.1 SR1')!).toBeLessThan(releaseOrder('June 2017')!);
    expect(releaseOrder('3.2 SR5')!).toBeGreaterThan(releaseOrder('3.1 SR1')!);
    expect(upgradePathProblem('3.1 SR1', 'November 2017')?.code).toBe(-7);
    expect(upgradePathProblem('3.1 SR1', 'June 2017')).toBeNull();
    expect(upgradePathProblem('September 2020', 'February 2021')?.code).toBe(-11);
    expect(upgradePathProblem('November 2020', 'February 2021')).toBeNull();
    expect(upgradePathProblem('May 2025', 'May 2024')?.code).toBe(-4);
    expect(upgradePathProblem('May 2024', 'May 2024')?.code).toBe(-7);
    expect(rootCertMustBeRecreated('June 2019', 'February 2020')).toBe(true);
    expect(rootCertMustBeRecreated('September 2019', 'May 2025')).toBe(false);
    expect(patchNeedsRootCert('June 2019', 11)).toBe(true);
    expect(patchNeedsRootCert('June 2019', 10)).toBe(false);
    expect(installedRelease([{ name: 'Qlik Sense May 2025', version: '14.222.5' }, { name: 'Qlik Sense May 2025 Patch 10', version: '14.222.20' }, { name: 'Qlik Sense May 2025 Patch 9', version: '14.222.19' }])).toMatchObject({ patches: ['Patch 9', 'Patch 10'], build: '14.222.20' });
  });
});

describe('the site as the installer left it', () => {
  it('records the release in Programs and Features; each QRS reports its build', async () => {
    for (const n of NODES) expect(release(n.name)).toMatchObject({ name: OLD.name, build: OLD.version, patches: [] });
    const s = await snapshot();
    expect(s.services.every(([, st]) => st === 2)).toBe(true);
  });
});

describe('upgrade refusals: exit 2, nothing changed', () => {
  it('refuses a downgrade, an unsupported path, a local 9.6 with August 2023+, a pending reboot, not elevated, the wrong account, a wrong superuser password', async () => {
    const before = await snapshot();
    const expectRefused = async (args: string[], re: RegExp, e: Record<string, string> = {}) => {
      const r = await qsadmin(args, { env: env(e) });
      expect(r.exitCode, r.stdout + r.stderr).toBe(2);
      expect(JSON.parse(r.stdout).error.message).toMatch(re);
    };
    await expectRefused(['upgrade', '--setup', OLDER_SETUP, '--release', 'February 2024', '--site', siteFile, '--state-dir', state, '--json'], /downgrade/);
    // every node plays September 2020: February 2021 and later need November 2020 first
    const saved = NODES.map((n) => fs.readFileSync(path.join(root(n.name), '.emulator', 'products.json'), 'utf8'));
    for (const n of NODES) fs.writeFileSync(path.join(root(n.name), '.emulator', 'products.json'), JSON.stringify(products(n.name).map((p) => (p.name === `Qlik Sense ${OLD.name}` ? { name: 'Qlik Sense September 2020', version: '13.95.4' } : p))));
    await expectRefused(upgradeArgs(), /must be reached from November 2020.*setup would exit -11/);
    // central plays a bundled 9.6 database
    fs.writeFileSync(path.join(root('central'), '.emulator', 'products.json'), saved[0].replace(/Qlik Sense Repository Database [\d.]+/, 'Qlik Sense Repository Database 9.6'));
    for (let i = 1; i < 3; i++) fs.writeFileSync(path.join(root(NODES[i].name), '.emulator', 'products.json'), saved[i]);
    await expectRefused(upgradeArgs(), /PostgreSQL 9\.6.*August 2023 or later/);
    fs.writeFileSync(path.join(root('central'), '.emulator', 'products.json'), saved[0]);
    let undo = machine('rim2', { rebootPending: ['Windows Update'] });
    await expectRefused(upgradeArgs(), /reboot is pending on rim2/);
    undo();
    undo = machine('rim1', { elevated: false });
    await expectRefused(upgradeArgs(), /elevated \(administrator\) process on rim1/);
    undo();
    // a CA on rim2 that is not the site's (left from an earlier site, say)
    const { EmulatedCertStore } = await import('../src/host/emulated/certstore.js');
    const { generateQlikCertSet } = await import('../src/certs/generate.js');
    const { writePfx } = await import('../src/certs/pfx.js');
    const store = new EmulatedCertStore(root('rim2'), 'EMULATED\\qservice');
    const foreign = generateQlikCertSet('old-site.upgrade.test').root;
    const added = await store.importPfx({ location: 'LocalMachine', name: 'Root' }, writePfx(foreign, 'pfx-pw'), 'pfx-pw');
    await expectRefused(upgradeArgs(), /unsupported certificates on a non-central node[\s\S]*rim2: LocalMachine\\Root old-site\.upgrade\.test-CA/);
    await store.remove({ location: 'LocalMachine', name: 'Root' }, added.thumbprint);
    await expectRefused(upgradeArgs(['--original-installer', 'EMULATED\\someone']), /not as EMULATED\\someone, the account that did the original install/);
    await expectRefused(upgradeArgs(), /superuser password is wrong/, { QSADMIN_DB_PASSWORD: 'not-the-password' });
    await expectRefused(['upgrade', '--setup', NEW_SETUP, '--release', 'Sometime', '--site', siteFile, '--state-dir', state, '--json'], /not a Qlik Sense release name/);
    expect(await snapshot()).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'backups'))).toBe(false);
  }, 120_000);

  it('the plan says what is kept, the backup first, the rollback, and how passwords reach setup', async () => {
    const r = await qsadmin(upgradeArgs(['--dry-run']), { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/May 2024 → May 2025/);
    expect(out).toMatch(/Capabilities\.json is NOT kept/);
    expect(out).toMatch(/rollback is restoring it/);
    expect(out).toMatch(/upgrade\.setup\.central[\s\S]*upgrade\.setup\.rim1[\s\S]*upgrade\.setup\.rim2[\s\S]*upgrade\.start\.central/);
  });
});

describe('the emulated setup and update refuse what the guide refuses (their own exit codes)', () => {
  it('services running (-10), the wrong account (-16), a patch with no baseline (-9), repair with another version (-7)', async () => {
    expect(await run('rim2', NEW_SETUP, ['-s', 'accepteula=1'])).toBe(-10);
    expect(await run('rim2', NEW_SETUP, ['-s', 'accepteula=1'], { user: 'EMULATED\\otheradmin' })).toBe(-16);
    expect(await run('rim2', UPDATE_EXE, ['install'])).toBe(-9); // a May 2025 patch on May 2024
    expect(await run('rim2', NEW_SETUP, ['-s', '-repair'])).toBe(-7);
    expect(await run('rim2', UPDATE_EXE, ['help'])).toBe(0);
    expect(await run('rim2', UPDATE_EXE, ['startservices'])).toBe(-2);
    expect(release('rim2')).toMatchObject({ name: OLD.name, patches: [] });
  });
});

let countsBefore: Record<string, number>;
let shareBefore: string;

describe('upgrade', () => {
  it('upgrades central, then the rims, killed before rim1\'s setup and resumed: every node on May 2025, rows and share as before', async () => {
    countsBefore = await counts();
    shareBefore = shareHash();
    // custom settings: Proxy.exe.config is kept (keepcurrentsettings=1), Capabilities.json is not
    for (const n of NODES) {
      fs.appendFileSync(onNode(n.name, PROXY_CONFIG), '<!-- custom proxy setting -->\r\n');
      fs.mkdirSync(path.dirname(onNode(n.name, CAPABILITIES)), { recursive: true });
      fs.writeFileSync(onNode(n.name, CAPABILITIES), '{"custom": true}');
    }
    const killed = await qsadmin(upgradeArgs(['--yes']), { env: env({ QSADMIN_FAULT: 'kill:upgrade.setup.rim1:0' }), timeout: 300_000 });
    expect(killed.exitCode, killed.stderr.slice(-2000)).not.toBe(0);
    const runId = runIds(state).find((id) => id.startsWith('upgrade'))!;
    expect(journal(state, runId).some((l) => l.step === 'upgrade.setup.central' && l.event === 'finish')).toBe(true);
    expect(release('central')!.name).toBe(NEW.name);
    expect(release('rim1')!.name).toBe(OLD.name); // the site is half upgraded: the resume must finish it
    // rim2 has .NET 4.7.2: its setup installs .NET 4.8 and asks for a restart; the run stops there and says so
    machine('rim2', { dotnetRelease: 461808 });
    const stopped = await qsadmin(['runs', 'resume', runId, '--yes', '--json', '--state-dir', state], { env: env(), timeout: 300_000 });
    expect(stopped.exitCode, stopped.stderr.slice(-2000)).toBe(1);
    expect(stopped.stdout + stopped.stderr).toMatch(/exited -8 \(Pending reboot must be applied first[\s\S]*qsadmin does not restart machines: restart qs-rim2\.upgrade\.test/);
    expect(release('rim1')!.name).toBe(NEW.name);
    expect(release('rim2')!.name).toBe(OLD.name);
    const marker = JSON.parse(fs.readFileSync(path.join(root('rim2'), '.emulator', 'machine.json'), 'utf8'));
    expect(marker).toMatchObject({ dotnetRelease: 528040, rebootPending: [expect.stringMatching(/\.NET Framework 4\.8/)] });
    const early = await qsadmin(['runs', 'resume', runId, '--yes', '--json', '--state-dir', state], { env: env() });
    expect(early.exitCode).toBe(2); // before the restart: refused, nothing changed
    machine('rim2', { rebootPending: [] }); // the restart
    const r = await qsadmin(['runs', 'resume', runId, '--yes', '--json', '--state-dir', state], { env: env(), timeout: 300_000 });
    expect(r.exitCode, r.stderr.slice(-3000) + r.stdout.slice(-2000)).toBe(0);
    for (const n of NODES) expect(release(n.name)).toMatchObject({ name: NEW.name, build: NEW.version, patches: [] });
    const seen = JSON.parse(fs.readFileSync(path.join(state, 'runs', runId, 'outputs.json'), 'utf8'))['upgrade.verify.seen'];
    expect(seen).toEqual({ central: `May 2025 (build ${NEW.version})`, rim1: `May 2025 (build ${NEW.version})`, rim2: `May 2025 (build ${NEW.version})` });
    expect(await counts()).toEqual(countsBefore);
    expect(shareHash()).toBe(shareBefore);
    const s = await snapshot();
    expect(s.services.every(([, st, svc]) => st === 2 && !String(svc).includes('stopped'))).toBe(true);
    for (const n of NODES) {
      expect(fs.readFileSync(onNode(n.name, PROXY_CONFIG), 'utf8')).toContain('custom proxy setting');
      expect(fs.readFileSync(onNode(n.name, CAPABILITIES), 'utf8')).not.toContain('custom');
    }
    const log = fs.readFileSync(path.join(state, 'runs', runId, 'run.log'), 'utf8');
    expect(log).toMatch(/warning: Capabilities\.json was replaced/);
    expect(log).toMatch(/userpassword=\*\*\*/);
    // the setup logs and everything qsadmin wrote hold no password
    const setupLogs = NODES.flatMap((n) => (fs.readdirSync(onNode(n.name, 'C:\\ProgramData\\qsadmin\\upgrade'), { recursive: true }) as string[]).map((f) => path.join(onNode(n.name, 'C:\\ProgramData\\qsadmin\\upgrade'), f))).filter((f) => fs.statSync(f).isFile());
    expect(setupLogs.length).toBeGreaterThanOrEqual(3);
    const everything = [r.stdout, r.stderr, killed.stdout, killed.stderr, stopped.stdout, stopped.stderr, log, ...setupLogs.map((f) => fs.readFileSync(f, 'utf8'))].join('\n');
    for (const v of [SECRETS.QSADMIN_SERVICE_PASSWORD, SECRETS.QSADMIN_DB_PASSWORD]) expect(everything).not.toContain(v);
    // the verified backup came first
    expect(fs.readdirSync(path.join(dir, 'backups')).filter((d) => !d.startsWith('.'))).toHaveLength(1);
  }, 300_000);

  it('refuses to upgrade to the release the site runs (exit 2)', async () => {
    const r = await qsadmin(upgradeArgs(), { env: env() });
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/already installed: that is no upgrade/);
  });
});

describe('repair and patch', () => {
  it('repairs rim1: a missing program file is back, services running', async () => {
    const engine = onNode('rim1', 'C:\\Program Files\\Qlik\\Sense\\Engine\\Engine.exe');
    expect(fs.existsSync(engine)).toBe(true);
    fs.rmSync(engine);
    const wrong = await qsadmin(['repair', '--node', 'rim1', '--setup', NEW_SETUP, '--release', 'May 2024', '--site', siteFile, '--state-dir', state, '--json', '--yes'], { env: env() });
    expect(wrong.exitCode).toBe(2);
    expect(JSON.parse(wrong.stdout).error.message).toMatch(/needs the setup file of the installed version/);
    const r = await qsadmin(['repair', '--node', 'rim1', '--setup', NEW_SETUP, '--site', siteFile, '--state-dir', state, '--json', '--yes'], { env: env(), timeout: 240_000 });
    expect(r.exitCode, r.stderr.slice(-2000)).toBe(0);
    expect(fs.existsSync(engine)).toBe(true);
  }, 240_000);

  it('patches central, starts it, then each rim: Patch 2 everywhere, /qrs/about reports its build', async () => {
    const r = await qsadmin(['patch', '--update', UPDATE_EXE, '--patch', '2', '--site', siteFile, '--state-dir', state, '--backup-to', path.join(dir, 'backups'), '--json', '--yes'], { env: env(), timeout: 300_000 });
    expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
    for (const n of NODES) expect(release(n.name)).toMatchObject({ name: NEW.name, patches: ['Patch 2'], build: PATCH.version });
    const runId = runIds(state).filter((id) => id.startsWith('patch')).pop()!;
    const order = journal(state, runId).filter((l) => l.event === 'finish' || l.event === 'skip').map((l) => l.step!);
    expect(order.indexOf('patch.update.central')).toBeLessThan(order.indexOf('patch.start.central.servicestate'));
    expect(order.indexOf('patch.start.central.servicestate')).toBeLessThan(order.indexOf('patch.update.rim1'));
    const seen = JSON.parse(fs.readFileSync(path.join(state, 'runs', runId, 'outputs.json'), 'utf8'))['patch.verify.seen'];
    expect(Object.values(seen)).toEqual(NODES.map(() => `May 2025 Patch 2 (build ${PATCH.version})`));
    expect(await counts()).toEqual(countsBefore);
    // the update file itself refuses to run again: superseded (-22)
    expect(await run('rim2', UPDATE_EXE, ['install'])).toBe(-22);
    expect(release('rim2')!.patches).toEqual(['Patch 2']);
  }, 300_000);

  it('refuses a superseded patch and a repair once patches are applied (exit 2, nothing changed)', async () => {
    const before = await snapshot();
    const p = await qsadmin(['patch', '--update', UPDATE_EXE, '--patch', '2', '--site', siteFile, '--state-dir', state, '--json', '--yes'], { env: env() });
    expect(p.exitCode).toBe(2);
    expect(JSON.parse(p.stdout).error.message).toMatch(/Patch 2 is superseded/);
    const r = await qsadmin(['repair', '--node', 'central', '--setup', NEW_SETUP, '--site', siteFile, '--state-dir', state, '--json', '--yes'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/repair is disabled once patches are applied/);
    expect(await snapshot()).toEqual(before);
  });
});
