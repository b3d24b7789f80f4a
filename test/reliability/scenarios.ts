// How the crash matrix runs each runbook of the catalog on an emulated site: the command, the state it starts from,
// and the end state that must equal an uninterrupted run's. A runbook added to src/runbooks/catalog.ts without a
// scenario here makes the matrix fail, naming it: no runbook goes uncovered silently.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readPfx } from '../../src/certs/pfx.js';
import { thumbprintOf } from '../../src/certs/inspect.js';
import { destroySite, type EmulatedSite } from '../../src/emulator/site.js';
import { createBareNodes, placeSetupFile, placeUpdateFile, SETUP_EXE, UPDATE_EXE } from '../../src/emulator/bare.js';
import { expireSiteCertificates } from '../../src/emulator/day2/expired-certs.js';
import { checkSiteCertificates } from '../../src/runbooks/certs.js';
import { switchHbaMethod } from '../../src/postgres/hba.js';
import { withClient } from '../../src/postgres/client.js';
import { ROOT } from '../helpers/cli.js';
import { databaseState, failureLines, lastLine, runCli, serviceStates, siteState, treeHashes } from './harness.js';

export const CERT_PASSWORD = 'crash-matrix-pfx-password';

/** The site and folders one matrix run shares between its cases. */
export interface CrashFixture {
  site: EmulatedSite;
  /** Scratch folder for targets of this matrix (sets, exports). */
  work: string;
  /** Environment of every command (secrets through variables, as users give them). */
  env: Record<string, string>;
}

export interface Scenario {
  /** Bring the site to the state the runbook starts from and return the command for one case (a fresh target each time). */
  prepare(f: CrashFixture, caseDir: string): Promise<string[]>;
  /** The end state that must equal an uninterrupted run's. */
  endState(f: CrashFixture, caseDir: string): Promise<unknown>;
  /** Made once before the cases (e.g. the set a restore restores). */
  setup?(f: CrashFixture): Promise<void>;
  /** Why the matrix's one-node site cannot run this runbook (and which test kills and resumes it instead). */
  skip?: string;
}

const CRASH_ACCOUNT = 'EMULATED\\crashsvc';

// Run a CLI command that must succeed (fixture set-up between cases).
async function must(f: CrashFixture, args: string[]): Promise<void> {
  const r = await runCli([...args, '--site', f.site.siteFile], { ...f.env, QSADMIN_STATE_DIR: path.join(f.work, 'setup-state') });
  if (r.exitCode !== 0) throw new Error(`qsadmin ${args.join(' ')} failed (exit ${r.exitCode}): ${failureLines(r.stderr)}`);
}

const startAll = (f: CrashFixture) => must(f, ['services', 'start']);

export { failureLines as failureText };

// Rows of a query on the site's QSR (as the superuser).
async function qsrRows(f: CrashFixture, sql: string): Promise<Array<Record<string, unknown>>> {
  const db = f.site.site.database;
  return withClient({ host: db.host, port: db.port, user: db.superuser, password: f.site.superuserPassword, database: 'QSR' }, async (c) => (await c.query(sql)).rows);
}

/** After a case that left the site unable to start: stop what is left and start it again (between cases only). */
export async function repairSite(f: CrashFixture): Promise<void> {
  await must(f, ['services', 'stop']).catch(() => undefined);
  await startAll(f);
}

/** A certificate export folder by content: each PFX's certificate thumbprint and key digest, the PEM copies, the index without per-export digests. */
export function certExportState(dir: string, password = CERT_PASSWORD): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rel, digest] of Object.entries(treeHashes(dir))) {
    const file = path.join(dir, rel);
    if (rel.endsWith('.pfx')) {
      const c = readPfx(fs.readFileSync(file), password, file);
      out[rel] = { thumbprint: thumbprintOf(c.certPem), key: c.keyPem ? createHash('sha256').update(c.keyPem).digest('hex') : null, chain: c.chainPems.map((p) => thumbprintOf(p)) };
    } else if (path.basename(rel) === 'certs.json') {
      out[rel] = (JSON.parse(fs.readFileSync(file, 'utf8')) as Array<Record<string, unknown>>).map(({ sha256: _ignored, ...rest }) => rest);
    } else out[rel] = digest;
  }
  return out;
}

/** A backup set by content: strays and missing files against its manifest, dumps by row counts, certificates by thumbprint and key, share and configs by sha256, and `backup verify`. */
async function backupSetState(f: CrashFixture, target: string): Promise<unknown> {
  const sets = fs.readdirSync(target).filter((n) => !n.startsWith('.'));
  const hidden = fs.readdirSync(target).filter((n) => n.startsWith('.'));
  if (sets.length !== 1) return { targetEntries: fs.readdirSync(target) };
  const set = path.join(target, sets[0]);
  const m = JSON.parse(fs.readFileSync(path.join(set, 'manifest.json'), 'utf8')) as {
    files: Array<{ path: string; sha256: string; kind: string }>;
    databases: Array<{ name: string; dumped: boolean; rowCounts?: Record<string, number> }>;
  };
  const onDisk = Object.keys(treeHashes(set)).filter((p) => p !== 'manifest.json' && p !== 'verified.json');
  const listed = new Set(m.files.map((x) => x.path));
  const content: Record<string, unknown> = {};
  for (const x of m.files) if (x.kind === 'share' || x.kind === 'share-outside' || x.kind === 'config' || x.kind === 'custom-data') content[x.path] = x.sha256;
  const verify = await runCli(['backup', 'verify', set, '--json'], { ...f.env, QSADMIN_STATE_DIR: path.join(f.work, 'setup-state') });
  const certDir = path.join(set, 'certs');
  return {
    hiddenInTarget: hidden,
    strays: onDisk.filter((p) => !listed.has(p)),
    missing: [...listed].filter((p) => !fs.existsSync(path.join(set, p))),
    rows: Object.fromEntries(m.databases.filter((d) => d.dumped).map((d) => [d.name, d.rowCounts])),
    content,
    certs: fs.existsSync(certDir) ? certExportState(certDir) : null,
    verify: verify.exitCode === 0 ? 'ok' : `exit ${verify.exitCode}: ${lastLine(verify.stderr)}`,
    services: await serviceStates(f.site.site),
    workingDatabases: (await databaseState(f.site.site)).working,
  };
}

// Install and join start from bare nodes: each case installs its own small site beside the matrix's (the next
// address up), and the case before is destroyed first (one site on those addresses at a time).
const INSTALL_ENV = { QSADMIN_SERVICE_PASSWORD: 'matrix-svc-pass-1', QSADMIN_DB_PASSWORD: 'matrix-db-pass-1', QSADMIN_REPOSITORY_PASSWORD: 'matrix-repo-pass-1' };
let lastInstalled: string | undefined;

async function bareSite(f: CrashFixture, caseDir: string, nodes: 1 | 2): Promise<string> {
  if (lastInstalled) await destroySite(lastInstalled).catch(() => undefined);
  lastInstalled = caseDir;
  Object.assign(f.env, INSTALL_ENV);
  const a = f.site.site.nodes[0].address.split('.').map(Number);
  const at = (i: number) => [...a.slice(0, 3), a[3] + 1 + i * 20].join('.');
  createBareNodes({ dir: caseDir, nodes: [{ name: 'central', hostname: 'qs-install.matrix.test', address: at(0) }, { name: 'rim1', hostname: 'qs-install-rim.matrix.test', address: at(1) }].slice(0, nodes), portOffset: f.site.site.nodes[0].portOffset ?? 0, serviceAccount: { name: 'EMULATED\\qservice', password: INSTALL_ENV.QSADMIN_SERVICE_PASSWORD } });
  fs.mkdirSync(path.join(caseDir, 'share'), { recursive: true });
  return path.join(caseDir, 'site.json');
}

const installArgs = (caseDir: string, role: 'central' | 'rim', node: string) => ['install', '--silent', '--role', role, '--setup', SETUP_EXE, '--emulated-node', path.join(caseDir, 'nodes', node), '--share', path.join(caseDir, 'share'), '--service-account', 'EMULATED\\qservice', ...(role === 'central' ? ['--out', path.join(caseDir, 'site.json')] : ['--site', path.join(caseDir, 'site.json')])];

async function mustIn(f: CrashFixture, caseDir: string, args: string[]): Promise<void> {
  const r = await runCli(args, { ...f.env, QSADMIN_STATE_DIR: path.join(caseDir, 'setup-state') });
  if (r.exitCode !== 0) throw new Error(`qsadmin ${args.slice(0, 3).join(' ')} failed (exit ${r.exitCode}): ${failureLines(r.stderr)}`);
}

// The installed site as qsadmin sees it: the site config (its folder as <case>) and cluster status.
async function installedState(f: CrashFixture, caseDir: string): Promise<unknown> {
  const file = path.join(caseDir, 'site.json');
  if (!fs.existsSync(file)) return { site: null };
  const status = await runCli(['cluster', 'status', '--site', file, '--json'], { ...f.env, QSADMIN_STATE_DIR: path.join(caseDir, 'status-state') });
  const s = JSON.parse(status.stdout) as { nodes: Array<{ name: string; servicestate: number | null; services: unknown[]; qrs: unknown }> };
  return {
    site: fs.readFileSync(file, 'utf8').split(caseDir).join('<case>'),
    nodes: s.nodes.map((n) => ({ name: n.name, servicestate: n.servicestate, services: n.services, joined: n.qrs !== null })),
    spcLeft: fs.readdirSync(caseDir, { recursive: true }).map(String).filter((p) => p.endsWith('spc.xml')),
  };
}

// db upgrade is one way: each case makes its own site with a dedicated PostgreSQL 12 server beside the matrix's
// (the next address up + 40), and upgrades it to 14 with the native engine; the case before is destroyed first.
let lastUpgraded: string | undefined;
async function pg12Site(f: CrashFixture, caseDir: string): Promise<EmulatedSite> {
  if (lastUpgraded) await destroySite(lastUpgraded).catch(() => undefined);
  lastUpgraded = path.join(caseDir, 'site');
  const { createEmulatedSite } = await import('../../src/emulator/site.js');
  const { postgres: pg12 } = await import('pg12');
  const a = f.site.site.nodes[0].address.split('.').map(Number);
  const s = await createEmulatedSite({ dir: lastUpgraded, size: 'tiny', databaseService: null, startServices: true, pgBinDir: path.dirname(pg12), baseAddress: [...a.slice(0, 3), a[3] + 40].join('.'), portOffset: f.site.site.nodes[0].portOffset ?? 0 });
  f.env.QSADMIN_DB_PASSWORD = s.superuserPassword;
  return s;
}

// upgrade, patch and repair start from a one-node site installed at May 2024 by the emulated setup (bareSite's
// addresses), with the May 2025 setup file and a May 2025 patch beside it; the end state is the site as installedState
// sees it plus the release on Programs and Features.
const NEW_SETUP = 'C:\\Installers\\May 2025\\Qlik_Sense_setup.exe';
async function oldReleaseSite(f: CrashFixture, caseDir: string, release = { name: 'May 2024', version: '14.187.4' }): Promise<string> {
  const site = await bareSite(f, caseDir, 1);
  const node = path.join(caseDir, 'nodes', 'central');
  placeSetupFile(node, SETUP_EXE, release);
  placeSetupFile(node, NEW_SETUP, { name: 'May 2025', version: '14.222.5' });
  placeUpdateFile(node, UPDATE_EXE, { name: 'May 2025', version: '14.222.7', patch: 2 });
  await mustIn(f, caseDir, installArgs(caseDir, 'central', 'central'));
  return site;
}
async function releaseState(f: CrashFixture, caseDir: string): Promise<unknown> {
  return { ...((await installedState(f, caseDir)) as object), products: fs.readFileSync(path.join(caseDir, 'nodes', 'central', '.emulator', 'products.json'), 'utf8') };
}

export const SCENARIOS: Record<string, Scenario> = {
  upgrade: {
    prepare: async (f, caseDir) => {
      const site = await oldReleaseSite(f, caseDir);
      return ['upgrade', '--setup', NEW_SETUP, '--release', 'May 2025', '--site', site, '--backup-to', path.join(caseDir, 'sets'), '--yes'];
    },
    endState: releaseState,
  },
  patch: {
    prepare: async (f, caseDir) => {
      const site = await oldReleaseSite(f, caseDir, { name: 'May 2025', version: '14.222.5' });
      return ['patch', '--update', UPDATE_EXE, '--patch', '2', '--site', site, '--backup-to', path.join(caseDir, 'sets'), '--yes'];
    },
    endState: releaseState,
  },
  repair: {
    prepare: async (f, caseDir) => {
      const site = await oldReleaseSite(f, caseDir);
      fs.rmSync(path.join(caseDir, 'nodes', 'central', 'Program Files', 'Qlik', 'Sense', 'Engine', 'Engine.exe'));
      return ['repair', '--setup', SETUP_EXE, '--site', site, '--yes'];
    },
    endState: async (f, caseDir) => ({ ...((await releaseState(f, caseDir)) as object), engine: fs.existsSync(path.join(caseDir, 'nodes', 'central', 'Program Files', 'Qlik', 'Sense', 'Engine', 'Engine.exe')) }),
  },
  'db.upgrade': {
    prepare: async (f, caseDir) => {
      const s = await pg12Site(f, caseDir);
      const { postgres: pg14 } = await import('pg14');
      return ['db', 'upgrade', '--engine', 'native', '--new-bin-dir', path.dirname(pg14), '--site', s.siteFile, '--backup-to', path.join(caseDir, 'sets'), '--yes'];
    },
    endState: async (f, caseDir) => {
      const file = path.join(caseDir, 'site', 'site.json');
      const site = JSON.parse(fs.readFileSync(file, 'utf8'));
      const conn = { host: site.database.host, port: site.database.port, user: 'postgres', password: f.env.QSADMIN_DB_PASSWORD, database: 'postgres' };
      const version = await withClient(conn, async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v.split('.')[0]);
      const { rowCounts, userDatabases } = await import('../../src/postgres/move.js');
      return { version, counts: await rowCounts(conn, await userDatabases(conn)), services: await serviceStates(site) };
    },
  },
  install: {
    prepare: async (f, caseDir) => {
      await bareSite(f, caseDir, 1);
      return installArgs(caseDir, 'central', 'central');
    },
    endState: installedState,
  },
  uninstall: {
    prepare: async (f, caseDir) => {
      const site = await bareSite(f, caseDir, 1);
      await mustIn(f, caseDir, installArgs(caseDir, 'central', 'central'));
      return ['uninstall', '--silent', '--node', 'central', '--setup', SETUP_EXE, '--site', site, '--yes'];
    },
    endState: async (_f, caseDir) => ({ services: JSON.parse(fs.readFileSync(path.join(caseDir, 'nodes', 'central', '.emulator', 'machine-facts.json'), 'utf8')).services }),
  },
  'cluster.join': {
    prepare: async (f, caseDir) => {
      const site = await bareSite(f, caseDir, 2);
      await mustIn(f, caseDir, installArgs(caseDir, 'central', 'central'));
      await mustIn(f, caseDir, installArgs(caseDir, 'rim', 'rim1'));
      return ['cluster', 'join', '--rim', 'rim1', '--site', site];
    },
    endState: installedState,
  },
  'cluster.remove': {
    prepare: async (f, caseDir) => {
      const site = await bareSite(f, caseDir, 2);
      await mustIn(f, caseDir, installArgs(caseDir, 'central', 'central'));
      await mustIn(f, caseDir, installArgs(caseDir, 'rim', 'rim1'));
      await mustIn(f, caseDir, ['cluster', 'join', '--rim', 'rim1', '--site', site]);
      return ['cluster', 'remove', '--rim', 'rim1', '--site', site];
    },
    endState: installedState,
  },
  'services.stop': {
    prepare: async (f) => {
      await startAll(f);
      return ['services', 'stop', '--site', f.site.siteFile];
    },
    endState: async (f) => ({ services: await serviceStates(f.site.site), workingDatabases: (await databaseState(f.site.site)).working }),
  },
  'services.start': {
    prepare: async (f) => {
      await must(f, ['services', 'stop']);
      return ['services', 'start', '--site', f.site.siteFile];
    },
    endState: async (f) => ({ services: await serviceStates(f.site.site), workingDatabases: (await databaseState(f.site.site)).working }),
  },
  'backup.create': {
    prepare: async (f, caseDir) => {
      await startAll(f);
      const target = path.join(caseDir, 'sets');
      fs.mkdirSync(target, { recursive: true });
      // every table counts as big, so that table archives and their crash point are exercised
      return ['backup', 'create', '--site', f.site.siteFile, '--to', target, '--table-archive-min-size', '1'];
    },
    endState: (f, caseDir) => backupSetState(f, path.join(caseDir, 'sets')),
  },
  restore: {
    setup: async (f) => {
      await startAll(f);
      await must(f, ['backup', 'create', '--to', path.join(f.work, 'restore-source')]);
    },
    prepare: async (f) => {
      await startAll(f);
      const sets = fs.readdirSync(path.join(f.work, 'restore-source'));
      return ['restore', path.join(f.work, 'restore-source', sets[0]), '--site', f.site.siteFile, '--yes'];
    },
    endState: (f) => siteState(f.site.site, f.site.dir),
  },
  // --replace: every case puts the same content into the same app, so an uninterrupted run and a resumed one must
  // leave the same apps (a plain restore adds an app per case, which no two cases could compare).
  'rules.import': {
    // Each case starts from the site without the demo set: its custom rules and custom properties gone, the two
    // default rules it edits back to stock. The end state: every rule and definition by content (no ids or dates).
    prepare: async (f) => {
      await startAll(f);
      const { STOCK_RULES } = await import('../../src/rules/defaults.js');
      await qsrRows(f, `DELETE FROM "SystemRules" WHERE "Type" = 'Custom' AND "Name" IN ('ResourceAccess','TeamAdminRead','TeamAdminSections','TeamAdminCreate')`);
      for (const r of STOCK_RULES.filter((x) => ['CreateApp', 'CreateAppObjectsPublishedApp'].includes(x.name))) {
        await qsrRows(f, `UPDATE "SystemRules" SET "Rule" = '${r.rule.replace(/'/g, "''")}', "ResourceFilter" = '${r.resourceFilter}', "Comment" = '', "ModifiedDate" = now() WHERE "SeedId" = '${r.seedId}'`);
      }
      await qsrRows(f, `DELETE FROM "CustomPropertyValues" WHERE "DefinitionID" IN (SELECT "ID" FROM "CustomPropertyDefinitions" WHERE "Name" IN ('GroupAccess','AdminGroup','Extendable'))`);
      await qsrRows(f, `DELETE FROM "CustomPropertyDefinitions" WHERE "Name" IN ('GroupAccess','AdminGroup','Extendable')`);
      return ['rules', 'import', path.join(ROOT, 'templates', 'rules', 'demo'), '--site', f.site.siteFile];
    },
    endState: async (f) => ({
      rules: await qsrRows(f, `SELECT "Name","Rule","ResourceFilter","Actions","Category","Type","SeedId","Disabled","Comment","RuleContext" FROM "SystemRules" ORDER BY "Name", "SeedId"`),
      definitions: await qsrRows(f, `SELECT "Name","ChoiceValues","ObjectTypes","Description" FROM "CustomPropertyDefinitions" ORDER BY "Name"`),
      services: await serviceStates(f.site.site),
    }),
  },
  'restore.app': {
    setup: async (f) => {
      await startAll(f);
      await must(f, ['backup', 'create', '--to', path.join(f.work, 'restore-app-source')]);
    },
    prepare: async (f) => {
      await startAll(f);
      const sets = fs.readdirSync(path.join(f.work, 'restore-app-source'));
      const id = (await qsrRows(f, 'SELECT "ID" FROM "Apps" ORDER BY "Name" LIMIT 1'))[0].ID as string;
      return ['restore', 'app', path.join(f.work, 'restore-app-source', sets[0]), '--app', id, '--replace', '--site', f.site.siteFile, '--yes'];
    },
    endState: async (f) => {
      const dir = (await qsrRows(f, 'SELECT "AppFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties"'))[0].AppFolder as string;
      const apps = await qsrRows(f, `SELECT a."ID", a."Name", a."OwnerID", a."StreamID", a."Published", a."FileSize",
        (SELECT string_agg("TagID"::text, ',' ORDER BY "TagID") FROM "TagApps" t WHERE t."AppID" = a."ID") AS tags,
        (SELECT string_agg("Value", ',' ORDER BY "Value") FROM "CustomPropertyValues" v WHERE v."ObjectID" = a."ID") AS cps
        FROM "Apps" a ORDER BY a."ID"`);
      const sha = (id: string) => (fs.existsSync(path.join(dir, id)) ? createHash('sha256').update(fs.readFileSync(path.join(dir, id))).digest('hex') : null);
      return { apps: apps.map((a) => ({ ...a, file: sha(a.ID as string) })), appFiles: fs.readdirSync(dir).sort(), services: await serviceStates(f.site.site) };
    },
  },
  'certs.export': {
    prepare: async (f, caseDir) => ['certs', 'export', '--site', f.site.siteFile, '--to', path.join(caseDir, 'export')],
    endState: async (f, caseDir) => ({ export: certExportState(path.join(caseDir, 'export')), services: await serviceStates(f.site.site) }),
  },
  'certs.import': {
    setup: async (f) => must(f, ['certs', 'export', '--to', path.join(f.work, 'import-source')]),
    prepare: async (f) => {
      await startAll(f);
      return ['certs', 'import', path.join(f.work, 'import-source'), '--site', f.site.siteFile, '--node', f.site.site.nodes[0].name, '--replace', '--yes'];
    },
    endState: (f) => siteState(f.site.site, f.site.dir),
  },
  'service-account': {
    setup: async (f) => {
      const { EmulatedDirectory } = await import('../../src/host/emulated/accounts.js');
      new EmulatedDirectory(f.site.site, f.site.dir).create(CRASH_ACCOUNT, 'crash-matrix-account-password');
      f.env.QSADMIN_SERVICE_ACCOUNT_PASSWORD = 'crash-matrix-account-password';
    },
    prepare: async (f) => {
      await startAll(f);
      return ['service-account', 'set', '--account', CRASH_ACCOUNT, '--site', f.site.siteFile];
    },
    endState: async (f) => {
      const { EmulatedHost } = await import('../../src/host/emulated/index.js');
      const h = new EmulatedHost(f.site.site, f.site.site.nodes[0]);
      return { logons: await h.machine.installedServices(), groups: (await h.accounts.lookup(CRASH_ACCOUNT)).groups, services: await serviceStates(f.site.site) };
    },
  },
  'share.move': {
    prepare: async (f, caseDir) => {
      await startAll(f);
      const to = path.join(caseDir, 'share');
      fs.mkdirSync(to, { recursive: true });
      const { EmulatedHost } = await import('../../src/host/emulated/index.js');
      const h = new EmulatedHost(f.site.site, f.site.site.nodes[0]);
      await h.accounts.grantFullControl(to, (await h.accounts.serviceLogon('QlikSenseRepositoryService'))!);
      return ['share', 'move', '--to', to, '--site', f.site.siteFile];
    },
    endState: async (f, caseDir) => {
      const [p] = await qsrRows(f, 'SELECT "RootFolder", "AppFolder", "ArchivedLogsRootFolder", "StaticContentRootFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties"');
      return { paths: Object.values(p).map((v) => String(v).replace(caseDir, '<case>')), files: treeHashes(path.join(caseDir, 'share')), services: await serviceStates(f.site.site) };
    },
  },
  'restore.alerting': {
    skip: 'needs Qlik Alerting on the site: the matrix site has none; test/alerting.test.ts restores it on a site with Alerting',
    prepare: async () => [],
    endState: async () => null,
  },
  failover: {
    skip: 'needs a failover candidate: the matrix site has one node; test/day2-ops.test.ts kills a failover mid-run and resumes it on a three-node site',
    prepare: async () => [],
    endState: async () => null,
  },
  'certs.renew': {
    prepare: async (f) => {
      await must(f, ['services', 'stop']);
      await expireSiteCertificates(f.site.site);
      return ['certs', 'renew', '--site', f.site.siteFile, '--yes'];
    },
    // a new set each time: compare what it is (roles per store, valid), not its thumbprints
    endState: async (f) => {
      const r = await checkSiteCertificates(f.site.site, { node: f.site.site.nodes[0].name });
      return { ok: r.ok, certificates: r.nodes[0].certificates.map((c) => `${c.store}|${c.role}|${c.subject}|${c.status}`).sort(), services: await serviceStates(f.site.site) };
    },
  },
  'db.harden': {
    // back to md5 as Qlik's installer leaves it (guide §6.7), then MD5 to SCRAM
    prepare: async (f) => {
      f.env.QSADMIN_REPOSITORY_PASSWORD = f.site.repositoryPassword;
      const db = f.site.site.database;
      await withClient({ host: db.host, port: db.port, user: db.superuser, password: f.site.superuserPassword, database: 'postgres' }, async (c) => {
        await c.query("ALTER SYSTEM SET password_encryption = 'md5'");
        await c.query("SET password_encryption = 'md5'");
        await c.query(`ALTER USER qliksenserepository WITH PASSWORD '${f.site.repositoryPassword}'`);
        await c.query(`ALTER USER postgres WITH PASSWORD '${f.site.superuserPassword}'`);
        const hba = path.join(db.dataDir!, 'pg_hba.conf');
        fs.writeFileSync(hba, switchHbaMethod(fs.readFileSync(hba, 'utf8'), 'scram-sha-256', 'md5'));
        await c.query('SELECT pg_reload_conf()');
      });
      await startAll(f);
      return ['db', 'harden', '--scram', '--site', f.site.siteFile, '--yes'];
    },
    endState: async (f) => {
      const db = f.site.site.database;
      const roles = await withClient({ host: db.host, port: db.port, user: db.superuser, password: f.site.superuserPassword, database: 'postgres' }, async (c) => ({
        enc: (await c.query('SHOW password_encryption')).rows[0].password_encryption,
        hashes: (await c.query("SELECT usename, left(passwd, 13) AS kind FROM pg_shadow WHERE usename IN ('postgres', 'qliksenserepository') ORDER BY 1")).rows,
        rules: (await c.query('SELECT DISTINCT auth_method FROM pg_hba_file_rules ORDER BY 1')).rows,
      }));
      return { ...roles, services: await serviceStates(f.site.site) };
    },
  },
};
