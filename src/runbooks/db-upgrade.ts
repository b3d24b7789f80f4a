// `qsadmin db upgrade`: a PostgreSQL major upgrade of the repository database, two ways.
//
// --engine qpi (guide §2.6): only a database installed by Qlik Sense (bundled 9.6 or 12.5) on Qlik Sense February
// 2022 or later without patches. A verified qsadmin backup; all services stopped on the rims, all but the database on
// central; the Qlik PostgreSQL Installer run silently with a generated qpiconfig (upgrade arguments only); then
// postgresql-x64-14 must run as Network Service and the old service stay stopped; the services start in order
// (central, then the rims); validation (servicestate 2, row counts as before); and the required clean-up: the old
// database MSI uninstalled and the client binaries reinstalled with the guide's msiexec line. QPI has no rollback and
// documents no exit codes: the rollback is restoring the verified backup, and that window closes once the old MSI
// is removed.
//
// --engine native: a dedicated PostgreSQL server (QPI refuses it; this engine refuses a Qlik-installed one), run on
// that server. The new major is initialised beside the old cluster on a spare port, the data moved by dump/restore
// (src/postgres/move.ts says why not pg_upgrade), the row counts compared while the old cluster is untouched, then
// switched: the old cluster stops and the new one takes its port, so host and port stay the same (every node's
// Repository.exe.config holds them, encrypted, editable only with Qlik's tool). If anything fails after the
// switch, the rollback step switches back (the old cluster was never changed) and starts the services.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Runbook, RunbookItem, Step, StepContext } from '../runbook/step.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import { loadSiteConfig } from '../site/config.js';
import { writeSiteConfig } from '../site/writer.js';
import { databasePassword, superuserConn } from '../site/database.js';
import { centralNode, rimNodes, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES } from '../site/services.js';
import { withClient } from '../postgres/client.js';
import { findPgBinDir, findServerBinDir } from '../postgres/bin.js';
import { PgCluster } from '../postgres/cluster.js';
import { countDifferences, moveDatabases, rowCounts, userDatabases } from '../postgres/move.js';
import { installedRelease, releaseOrder, type QlikRelease } from '../installer/releases.js';
import { buildBackupCreate, type BackupContext, type BackupInputs } from './backup-create.js';
import { checkedBuild, requireElevated } from './operator-checks.js';
import { hostPool, siteLockKey, startServiceSteps, stopServiceSteps, waitRepositoryStep, type HostsContext } from './service-steps.js';
import type { BuildEnv } from './registry.js';
import type { Host } from '../host/types.js';
import { failPoint } from '../restore/fail-point.js';
import { verifiedBackupItems } from './qlik-setup-steps.js';

export type DbUpgradeEngine = 'qpi' | 'native';

export interface DbUpgradeInputs {
  sitePath: string;
  engine: DbUpgradeEngine;
  /** The verified backup made first (its id is fixed at planning, so a resume completes the same set). */
  backup: BackupInputs;
  /** qpi: Qlik_PostgreSQL_setup.exe on the central node (Windows path). */
  qpi?: string;
  /** qpi: DbBackupPath, DbInstallationPath, DbDataPath (Windows paths on the central node). */
  qpiBackupPath?: string;
  installPath?: string;
  dataPath?: string;
  /** native: the server programs (initdb, pg_ctl, postgres) of the new major, and its data folder. */
  newBinDir?: string;
  newDataDir?: string;
  /** native: the old cluster's data folder on this machine (default database.dataDir). */
  oldDataDir?: string;
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
}

export interface DbUpgradeContext extends HostsContext {
  backup: BackupContext;
  password: string;
}

const NETWORK_SERVICE = /^(NT AUTHORITY\\)?Network ?Service$/i;
const QPI_DEFAULT_INSTALL = 'C:\\Program Files\\PostgreSQL\\14';
const TEMPLATE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []), 'templates', 'qpiconfig.xml');

function xml(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The qpiconfig XML from templates/qpiconfig.xml: upgrade arguments only, every value set. */
export function qpiConfigXml(values: { DbSuperUserPassword: string; DbHost: string; DbPort: number; DbInstallationPath: string; DbDataPath: string; DbBackupPath: string }): string {
  return fs.readFileSync(TEMPLATE, 'utf8').replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = (values as Record<string, string | number>)[k];
    if (v === undefined || v === '') throw new Error(`qpiconfig: ${k} has no value`);
    return xml(String(v));
  });
}

/** A path QPI's backup may not use: a UNC path (\\server\share, \\?\UNC\...), or not a drive path at all. */
export function notLocalPath(p: string): string | null {
  if (/^(\\\\|\/\/)/.test(p)) return `${p} is a network path`;
  if (!/^[A-Za-z]:\\/.test(p)) return `${p} is not a path on a local drive (C:\\...)`;
  return null;
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;

/** The services QPI needs stopped on a node: all Qlik services (the database service is not among them). */
function qlikServices(n: NodeConfig) {
  return n.services ?? ALL_QLIK_SERVICES;
}

/** Build the runbook; every refusal of the issue (exit 2) happens here, before anything changes. */
export async function buildDbUpgrade(inputs: DbUpgradeInputs, env?: BuildEnv): Promise<Runbook<DbUpgradeContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const password = await databasePassword(site, env?.interactive);
  const conn = superuserConn(site, password);
  let server: { version: string; major: number; bytes: number };
  try {
    server = await withClient(conn, async (c) => {
      const v = (await c.query<{ v: string; n: string; b: string }>("SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n, (SELECT sum(pg_database_size(datname))::bigint FROM pg_database) AS b")).rows[0];
      return { version: v.v, major: Math.floor(Number(v.n) / 10000) || Number(v.v.split('.')[0]), bytes: Number(v.b) };
    });
  } catch (e) {
    const msg = (e as Error).message;
    if (/password authentication failed/i.test(msg)) throw new InputError(`the database superuser password is wrong: ${msg}`, `set ${site.database.passwordEnv ?? 'QSADMIN_DB_PASSWORD'} to the password of "${site.database.superuser}"`);
    throw new InputError(`the repository database at ${site.database.host}:${site.database.port} cannot be reached: ${msg}`, 'start the repository database service (only the database: QPI needs it running)');
  }
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  const central = centralNode(site);
  const notes: string[] = [`database ${site.database.host}:${site.database.port} (${site.database.service ?? 'dedicated server'}), PostgreSQL ${server.version}, ${gib(server.bytes)}`];
  let release: QlikRelease | null = null;
  const q: { qpi: string; install: string; data: string; backupPath: string; oldMsi: string } = { qpi: '', install: '', data: '', backupPath: '', oldMsi: '' };
  const nat: { newBin: string; newMajor: number; newData: string; oldData: string; oldBin: string; tempPort: number } = { newBin: '', newMajor: 0, newData: '', oldData: '', oldBin: '', tempPort: 0 };

  // A resumed run is not refused for the state its own earlier steps made (the service is postgresql-x64-14 now, the
  // server runs the new major): once its backup set exists, the run has begun, and only the initial refusals apply
  // to a run that has not.
  const begun = fs.existsSync(path.join(inputs.backup.to, inputs.backup.backupId));
  const refuse = (message: string, hint?: string): void => {
    if (!begun) throw new InputError(message, hint);
  };
  await checkedBuild(pool, async () => {
    await requireElevated(pool.host, site.nodes, 'qsadmin db upgrade');
    if (inputs.engine === 'qpi') {
      const db = site.database;
      if (db.service !== 'QlikSenseRepositoryDatabase' || db.node !== central.name) {
        refuse(
          `QPI upgrades only a repository database installed by Qlik Sense (the bundled QlikSenseRepositoryDatabase on the central node); this site's is ${db.service ? `the service ${db.service}${db.node ? ` on ${db.node}` : ''}` : `a standalone server at ${db.host}:${db.port}`}`,
          db.service ? 'a database QPI already moved (postgresql-x64-14) is upgraded like any standalone PostgreSQL' : 'upgrade a dedicated server with --engine native',
        );
      }
      if (server.major !== 9 && server.major !== 12) refuse(`QPI moves the bundled PostgreSQL 9.6 or 12.5 to 14; this database runs ${server.version}`, 'nothing to do with QPI');
      const h = await pool.host(central.name);
      release = installedRelease(await h.machine.installedProducts());
      if (!release) throw new InputError(`Qlik Sense is not listed among the installed programs of ${central.name}`, 'run qsadmin on the site\'s central node');
      if (release.order < releaseOrder('February 2022')!) refuse(`QPI supports Qlik Sense February 2022 and later; ${central.name} runs Qlik Sense ${release.name}`, 'upgrade Qlik Sense first (to an initial release that supports QPI)');
      if (release.patches.length) {
        refuse(`Qlik Sense ${release.name} on ${central.name} has patches applied (${release.patches.join(', ')}): QPI on a patched release may lead to unexpected issues (guide §2.6)`, `uninstall the patches (back to ${release.name} IR), or move to an initial release of a later version first, then run db upgrade`);
      }
      q.qpi = inputs.qpi ?? '';
      if (!q.qpi) throw new InputError('--qpi is required with --engine qpi: the path of Qlik_PostgreSQL_setup.exe on the central node', 'download it from Qlik and pass --qpi C:\\Installers\\Qlik_PostgreSQL_setup.exe');
      if (!(await h.files.exists(q.qpi))) refuse(`${q.qpi} does not exist on ${central.name}`, 'pass --qpi with the path of Qlik_PostgreSQL_setup.exe on the central node');
      q.install = inputs.installPath ?? QPI_DEFAULT_INSTALL;
      if (/\\Qlik\\Sense\\Repository\\PostgreSQL(\\|$)/i.test(q.install)) refuse(`--install-path ${q.install} is the bundled database's folder: QPI refuses the old path`, `use ${QPI_DEFAULT_INSTALL}`);
      q.data = inputs.dataPath ?? `${q.install.replace(/\\+$/, '')}\\data`;
      const version = server.major === 9 ? '9.6' : '12.5';
      q.backupPath = inputs.qpiBackupPath ?? `C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\backup\\${version}`;
      for (const [flag, p] of [['--qpi-backup-path', q.backupPath], ['--data-path', q.data]] as const) {
        const bad = notLocalPath(p);
        if (bad) refuse(`${flag}: ${bad}; QPI's backup destination must be on a local disk, not a network path or virtual storage (guide §2.6)`, `choose a folder on the main drive, e.g. C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\backup\\${version}`);
      }
      // QPI dumps every database to the backup folder and restores it into the new data folder: room for both.
      const need = server.bytes * 1.2;
      for (const [what, p] of [['the QPI backup folder', q.backupPath], ['the new data folder', q.data]] as const) {
        const free = await h.machine.freeBytes(p);
        if (free !== null && free < need) refuse(`not enough free space for ${what} ${p}: about ${gib(need)} needed (the databases are ${gib(server.bytes)}), ${gib(free)} free`, 'free space there, or choose another folder (--qpi-backup-path, --data-path)');
      }
      q.oldMsi = server.major === 9 ? 'PostgreSQL.msi' : 'PostgreSQL125.msi';
      notes.push(
        `Qlik Sense ${release.name} (${release.version}), no patches; QPI ${q.qpi}`,
        `QPI: DbInstallationPath ${q.install}, DbDataPath ${q.data}, DbBackupPath ${q.backupPath}; its log in the run folder's qpi.log on ${central.name}`,
        'QPI has no rollback and documents no exit codes: qsadmin\'s rollback is restoring the verified backup made first (qsadmin restore <set>); that window closes once the old MSI is removed (step db.cleanup.uninstall-old)',
        `clean-up (required, guide §2.6): uninstall ${q.oldMsi} from the Package Cache (msiexec /x: qsadmin's choice, the guide shows the right-click), then reinstall the client binaries: msiexec.exe /qb /i "${clientMsi(release)}" SKIPINSTALLDBSERVICE="1" INSTALLDIR="${(await pool.host(central.name)).paths.qlikInstallDir}"`,
      );
    } else {
      if (site.database.service) {
        refuse(`--engine native is for a dedicated PostgreSQL server; this site's database is installed by Qlik (${site.database.service} on ${site.database.node})`, site.database.service === 'QlikSenseRepositoryDatabase' ? 'upgrade it with --engine qpi (the Qlik PostgreSQL Installer)' : 'a database QPI installed is upgraded like a standalone server, on that server, outside qsadmin for now');
      }
      nat.oldData = path.resolve(inputs.oldDataDir ?? site.database.dataDir ?? '');
      if (!nat.oldData || !fs.existsSync(path.join(nat.oldData, 'PG_VERSION'))) {
        refuse(`--old-data-dir ${nat.oldData || '(not set)'} is not a PostgreSQL data folder on this machine`, 'run qsadmin on the database server and pass the data folder of the running cluster');
      }
      const pgVersion = Number(fs.readFileSync(path.join(nat.oldData, 'PG_VERSION'), 'utf8').trim());
      if (pgVersion !== server.major) refuse(`${nat.oldData} holds PostgreSQL ${pgVersion}, the server at ${site.database.host}:${site.database.port} runs ${server.major}`, 'pass the data folder of the site\'s database server');
      nat.oldBin = (await findServerBinDir(site.database.binDir)).dir;
      if (!inputs.newBinDir) throw new InputError('--new-bin-dir is required with --engine native: the bin folder of the new PostgreSQL major (initdb, pg_ctl, postgres)', 'install the new major side by side first');
      const nb = await findServerBinDir(inputs.newBinDir).catch((e) => {
        throw new InputError(`--new-bin-dir ${inputs.newBinDir}: ${(e as Error).message}`);
      });
      if (nb.major <= server.major) refuse(`--new-bin-dir holds PostgreSQL ${nb.version}, not newer than the server's ${server.version}`, 'point it at the new major\'s bin folder');
      nat.newBin = nb.dir;
      nat.newMajor = nb.major;
      nat.newData = path.resolve(inputs.newDataDir ?? defaultNewDataDir(nat.oldData, server.major, nb.major));
      if (fs.existsSync(path.join(nat.newData, 'PG_VERSION')) && !fs.existsSync(ownMarker(nat.newData))) refuse(`${nat.newData} already holds a PostgreSQL cluster that qsadmin did not make`, 'choose another --new-data-dir; qsadmin never overwrites a cluster');
      const need = server.bytes * 2.2; // the dumps and the new cluster
      const st = fs.statfsSync(existingParent(nat.newData));
      const free = Number(st.bavail) * Number(st.bsize);
      if (free < need) refuse(`not enough free space for the new cluster in ${nat.newData}: about ${gib(need)} needed, ${gib(free)} free`, 'free space there or choose another --new-data-dir');
      nat.tempPort = site.database.port + 1;
      notes.push(
        `native: PostgreSQL ${server.version} → ${nb.version} (${nb.dir}), new cluster ${nat.newData} on port ${nat.tempPort} until the switch`,
        'data moved by pg_dump -Fc + pg_restore -j 2 (roles first, with their password hashes); not pg_upgrade: it needs both majors\' binaries on one machine and ties the new cluster to the old files; on Windows run pg_upgrade --check yourself if you prefer it',
        `the old cluster ${nat.oldData} is not changed; the switch stops it and starts the new one on port ${site.database.port}: host and port stay as every node's Repository.exe.config has them`,
        'rollback: a failure after the switch switches back to the old cluster and starts the services',
      );
    }
  });

  const brb = await buildBackupCreate(inputs.backup, env).catch(async (e) => {
    await pool.closeAll();
    throw e;
  });
  notes.push(`first: a verified qsadmin backup ${inputs.backup.backupId} in ${inputs.backup.to}`);

  const items: RunbookItem<DbUpgradeContext>[] = [];
  // 1. The backup runbook's own steps, as they are (resume skips what it finished), then proof that it is verified.
  items.push(...verifiedBackupItems<DbUpgradeContext>(brb, 'db', 'upgrade'));
  // 2. Services down: rims first (all services), then central (all Qlik services; the database keeps running).
  const done = (key: string) => async (ctx: DbUpgradeContext) => ctx.outputs.get(key) !== undefined;
  const finished = 'db.switched';
  const stops = (n: NodeConfig) =>
    stopServiceSteps<DbUpgradeContext>(n, { idPrefix: 'db.stop', timeoutMs: inputs.stopTimeoutMs }).map((s) => ({ ...s, check: async (ctx: DbUpgradeContext) => (await done(finished)(ctx)) || (await s.check!(ctx)) }));
  for (const n of rimNodes(site)) items.push(...stops(n));
  items.push(...stops(central));
  items.push({
    id: 'db.counts.before',
    title: 'Count the rows of every table of every database (services stopped: nothing writes)',
    check: done('db.counts.before'),
    run: async (ctx) => {
      const dbs = await userDatabases(conn);
      ctx.outputs.set('db.databases', dbs);
      ctx.outputs.set('db.counts.before', await rowCounts(conn, dbs));
    },
  });

  if (inputs.engine === 'qpi') items.push(...qpiSteps(site, central, q, () => release!, inputs));
  else items.push(...nativeSteps(site, nat));

  // 4. Services up: central, then the rims, each waiting for QRS (servicestate 2).
  for (const n of [central, ...rimNodes(site)]) {
    items.push(...startServiceSteps<DbUpgradeContext>(n, { idPrefix: 'db.start', always: true, timeoutMs: inputs.startTimeoutMs }));
    if (qlikServices(n).includes('QlikSenseRepositoryService')) items.push(waitRepositoryStep<DbUpgradeContext>(n, { idPrefix: 'db.start', always: true, timeoutMs: inputs.startTimeoutMs }));
  }
  items.push({
    id: 'db.validate',
    title: 'Validate: the new major answers on the same host and port, every row count as before',
    check: done('db.validated'),
    run: async (ctx) => {
      failPoint('db.validate');
      const v = await withClient(conn, async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v);
      const want = inputs.engine === 'qpi' ? 14 : nat.newMajor;
      if (Number(v.split('.')[0]) !== want) throw new VerificationError(`the database at ${site.database.host}:${site.database.port} runs PostgreSQL ${v}, not ${want}`);
      const dbs = ctx.outputs.require<string[]>('db.databases', 'db.counts.before');
      const diff = countDifferences(ctx.outputs.require('db.counts.before', 'db.counts.before'), await rowCounts(conn, dbs));
      if (diff.length) throw new VerificationError(`row counts differ after the upgrade:\n${diff.slice(0, 20).map((d) => `  - ${d}`).join('\n')}`);
      for (const n of site.nodes) {
        if (!qlikServices(n).includes('QlikSenseRepositoryService')) continue;
        const s = await (await ctx.host(n.name)).services.repositoryState();
        if (s !== 2) throw new VerificationError(`QRS on ${n.name} reports servicestate ${s ?? 'none'}, not 2`);
      }
      ctx.outputs.set('db.validated', { version: v, at: new Date().toISOString() });
    },
  });
  if (inputs.engine === 'native') items.push(nativeRollback(site, nat, inputs));
  else items.push(...qpiCleanup(site, central, q, () => release!));

  return {
    name: 'db.upgrade',
    site: path.resolve(inputs.sitePath),
    lockKey: siteLockKey(site),
    inputs: inputs as unknown as Record<string, unknown>,
    secrets: [password, ...(brb.secrets ?? [])],
    notes: [...notes, ...(brb.notes ?? []).map((n) => `backup: ${n}`)],
    items,
    context: async (b: StepContext): Promise<DbUpgradeContext> => {
      const backup = await brb.context(b);
      return { ...backup, backup, password, site, host: pool.host };
    },
    dispose: async (ctx) => {
      await brb.dispose?.(ctx.backup);
      await pool.closeAll();
    },
    close: async () => {
      await brb.close?.();
      await pool.closeAll();
    },
  };
}

/** QPI's upgrade command line (guide §2.6): the password is in the qpiconfig file, never on the command line. */
export function qpiArgs(log: string, config: string): string[] {
  return ['-silent', 'acceptqca=1', `-log=${log}`, `qpiconfig=${config}`];
}

// msiexec parses its own command line (PROPERTY="value", a quoted package path): these go to it verbatim.
/** The silent uninstall of the old database MSI (qsadmin's choice; the guide shows the right-click). */
export function msiexecUninstall(msi: string): { args: string[]; verbatim: true } {
  return { args: ['/x', `"${msi}"`, '/qn', '/norestart'], verbatim: true };
}

/** The guide's line for the client binaries (§2.6): msiexec.exe /qb /i "<msi>" SKIPINSTALLDBSERVICE="1" INSTALLDIR="<dir>". */
export function msiexecClientInstall(msi: string, installDir: string): { args: string[]; verbatim: true } {
  return { args: ['/qb', '/i', `"${msi}"`, 'SKIPINSTALLDBSERVICE="1"', `INSTALLDIR="${installDir}"`], verbatim: true };
}

function clientMsi(release: QlikRelease): string {
  return release.order >= releaseOrder('August 2023')! ? 'PostgreSQL14.msi' : 'PostgreSQL125.msi';
}

/** The file beside a new data folder that says qsadmin made it (a resume may remake what it half made). */
function ownMarker(dataDir: string): string {
  return `${dataDir}.qsadmin-made`;
}

/** The port in a cluster's postgresql.conf (the last active setting), or null. */
function confPort(dataDir: string): number | null {
  const text = fs.readFileSync(path.join(dataDir, 'postgresql.conf'), 'utf8');
  const all = [...text.matchAll(/^\s*port\s*=\s*(\d+)/gm)];
  return all.length ? Number(all[all.length - 1][1]) : null;
}

function existingParent(p: string): string {
  let d = p;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** Beside the old cluster: .../PostgreSQL/12/data → .../PostgreSQL/14/data, else <old>-<new major>. */
export function defaultNewDataDir(oldData: string, oldMajor: number, newMajor: number): string {
  const parent = path.dirname(oldData);
  if (path.basename(oldData) === 'data' && path.basename(parent) === String(oldMajor)) return path.join(path.dirname(parent), String(newMajor), 'data');
  return `${oldData}-${newMajor}`;
}

/** The run's QPI files on the central node (Windows paths): the config (deleted after QPI ran) and the log. */
function qpiFiles(h: Host, runId: string): { config: string; log: string } {
  const dir = `${h.paths.qlikProgramData.replace(/\\Qlik\\Sense$/i, '')}\\qsadmin\\qpi\\${runId}`;
  return { config: `${dir}\\qpiconfig.xml`, log: `${dir}\\qpi.log` };
}

/** postgresql-x64-14 installed, running as Network Service, the old service stopped: what QPI must leave. */
async function qpiOutcome(h: Host): Promise<string[]> {
  const problems: string[] = [];
  const svc = (await h.machine.installedServices()).find((s) => s.name === 'postgresql-x64-14');
  if (!svc) return ['the service postgresql-x64-14 is not installed'];
  if (!svc.account || !NETWORK_SERVICE.test(svc.account)) problems.push(`postgresql-x64-14 runs as ${svc.account ?? 'an unknown account'}, not Network Service (do not change it, guide §2.6)`);
  if ((await h.services.status('postgresql-x64-14')).state !== 'running') problems.push('postgresql-x64-14 is not running');
  const old = await h.services.status('QlikSenseRepositoryDatabase');
  if (old.state !== 'stopped' && old.state !== 'absent') problems.push(`the old service QlikSenseRepositoryDatabase is ${old.state}: it must stay stopped`);
  return problems;
}

function qpiSteps(site: SiteConfig, central: NodeConfig, q: { qpi: string; install: string; data: string; backupPath: string }, release: () => QlikRelease, inputs: DbUpgradeInputs): Step<DbUpgradeContext>[] {
  const host = (ctx: DbUpgradeContext) => ctx.host(central.name);
  return [
    {
      id: 'db.qpi.run',
      title: `Run the Qlik PostgreSQL Installer silently (-silent acceptqca=1 -log=... qpiconfig=...) on ${central.name}`,
      node: central.name,
      destructive: true,
      check: async (ctx) => (await qpiOutcome(await host(ctx))).length === 0,
      run: async (ctx) => {
        const h = await host(ctx);
        const f = qpiFiles(h, ctx.runId);
        // The password goes to QPI in the config file (0600, deleted at once), never on its command line.
        await h.files.writePrivate(f.config, qpiConfigXml({ DbSuperUserPassword: ctx.password, DbHost: site.database.host, DbPort: site.database.port, DbInstallationPath: q.install, DbDataPath: q.data, DbBackupPath: q.backupPath }));
        let r;
        try {
          r = await h.exec(q.qpi, qpiArgs(f.log, f.config), { timeoutMs: 4 * 3600_000 });
        } finally {
          await h.files.remove(f.config).catch(() => undefined);
        }
        ctx.outputs.set('db.qpi.log', f.log);
        const log = await h.files.read(f.log).then((b) => b.toString('utf8')).catch(() => '');
        ctx.log(`QPI exit ${r.exitCode}; its log ${f.log}:\n${log.trim().split('\n').slice(-12).join('\n')}`);
        if (r.exitCode !== 0) throw new Error(`the Qlik PostgreSQL Installer failed (exit ${r.exitCode}; QPI documents no exit codes): ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}; see ${f.log}. The backup ${inputs.backup.backupId} is the rollback (qsadmin restore)`);
      },
    },
    {
      id: 'db.qpi.verify',
      title: 'Check: postgresql-x64-14 runs as Network Service, the old QlikSenseRepositoryDatabase is stopped (never started again)',
      node: central.name,
      run: async (ctx) => {
        const problems = await qpiOutcome(await host(ctx));
        if (problems.length) throw new VerificationError(`after QPI: ${problems.join('; ')}`);
      },
    },
    {
      id: 'db.site-config',
      title: 'Write the site config: the repository database service is now postgresql-x64-14 (host and port unchanged)',
      check: async () => loadSiteConfig(inputs.sitePath).database.service === 'postgresql-x64-14',
      run: async (ctx) => {
        const file = path.resolve(inputs.sitePath);
        const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as SiteConfig;
        raw.database.service = 'postgresql-x64-14';
        writeSiteConfig(file, raw, { force: true });
        ctx.outputs.set('db.switched', { service: 'postgresql-x64-14', release: release().name });
      },
    },
  ];
}

function qpiCleanup(site: SiteConfig, central: NodeConfig, q: { oldMsi: string }, release: () => QlikRelease): Step<DbUpgradeContext>[] {
  const cache = 'C:\\ProgramData\\Package Cache';
  const msiexec = 'C:\\Windows\\System32\\msiexec.exe';
  // `dir /s <msi>` under the Package Cache, as the guide does it: the folder that holds the MSI.
  const find = async (h: Host, msi: string): Promise<string> => {
    for await (const f of h.files.walk(cache)) if (!f.isDirectory && f.path.toLowerCase().endsWith(`\\${msi.toLowerCase()}`)) return f.path;
    throw new Error(`${msi} was not found under ${cache} on ${central.name} (dir /s ${msi}): remove the old database and reinstall the client binaries by hand (guide §2.6)`);
  };
  return [
    {
      id: 'db.cleanup.uninstall-old',
      title: `Uninstall the old database MSI (${q.oldMsi}, from the Package Cache) with msiexec /x: required, and the end of the backup-restore rollback window`,
      node: central.name,
      destructive: true,
      check: async (ctx) => ctx.outputs.get('db.cleanup.uninstalled') !== undefined,
      run: async (ctx) => {
        const h = await ctx.host(central.name);
        const msi = await find(h, q.oldMsi);
        const x = msiexecUninstall(msi);
        const r = await h.exec(msiexec, x.args, { verbatim: x.verbatim });
        // 1605: not installed (any more): a re-run after the uninstall finished
        if (r.exitCode !== 0 && r.exitCode !== 1605) throw new Error(`msiexec /x ${msi} failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`);
        ctx.outputs.set('db.cleanup.uninstalled', msi);
      },
    },
    {
      id: 'db.cleanup.client-binaries',
      title: 'Reinstall the PostgreSQL client binaries without a database service (the guide\'s msiexec /qb /i ... SKIPINSTALLDBSERVICE="1")',
      node: central.name,
      check: async (ctx) => ctx.outputs.get('db.cleanup.client') !== undefined,
      run: async (ctx) => {
        const h = await ctx.host(central.name);
        const name = clientMsi(release());
        const msi = await find(h, name);
        const folder = msi.slice(0, msi.lastIndexOf('\\'));
        const { args, verbatim } = msiexecClientInstall(name, h.paths.qlikInstallDir);
        const r = await h.exec(msiexec, args, { cwd: folder, verbatim });
        if (r.exitCode !== 0) throw new Error(`msiexec ${args.join(' ')} in ${folder} failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`);
        ctx.outputs.set('db.cleanup.client', { msi, release: release().name });
      },
    },
  ];
}

interface NativePlan {
  newBin: string;
  newMajor: number;
  newData: string;
  oldData: string;
  oldBin: string;
  tempPort: number;
}

function clusters(site: SiteConfig, nat: NativePlan, password: string) {
  const common = { host: site.database.host, superuser: site.database.superuser, password, osUser: 'postgres' };
  return {
    old: new PgCluster({ ...common, dataDir: nat.oldData, binDir: nat.oldBin, port: site.database.port }),
    fresh: new PgCluster({ ...common, dataDir: nat.newData, binDir: nat.newBin, port: nat.tempPort }),
  };
}

function nativeSteps(site: SiteConfig, nat: NativePlan): Step<DbUpgradeContext>[] {
  const workDir = (ctx: StepContext) => path.join(ctx.runDir, 'native-dumps');
  return [
    {
      id: 'db.native.init',
      title: `Initialise PostgreSQL ${nat.newMajor} beside the old cluster (${nat.newData}, port ${nat.tempPort} until the switch)`,
      check: async (ctx) => ctx.outputs.get('db.native.init') !== undefined,
      run: async (ctx) => {
        const { old, fresh } = clusters(site, nat, ctx.password);
        // A half-made cluster of a killed run of this step is ours (its marker says so) and holds nothing yet: made
        // again. Anyone else's cluster there is refused.
        if (fs.existsSync(nat.newData) && fs.readdirSync(nat.newData).length) {
          if (!fs.existsSync(ownMarker(nat.newData))) throw new InputError(`${nat.newData} is not empty and qsadmin did not make it`, 'choose another --new-data-dir');
          await fresh.stop({ mode: 'immediate' }).catch(() => undefined);
          fs.rmSync(nat.newData, { recursive: true, force: true });
        }
        fs.mkdirSync(path.dirname(nat.newData), { recursive: true, mode: 0o755 });
        fs.writeFileSync(ownMarker(nat.newData), `${ctx.runId}\n`);
        const s = await withClient(old.conn(), async (c) => (await c.query<{ l: string; m: string }>("SELECT current_setting('listen_addresses') AS l, current_setting('max_connections') AS m")).rows[0]);
        await fresh.init();
        fs.copyFileSync(path.join(nat.oldData, 'pg_hba.conf'), path.join(nat.newData, 'pg_hba.conf'));
        await fresh.writeSettings({ listen_addresses: s.l, max_connections: Number(s.m) });
        await fresh.start();
        ctx.outputs.set('db.native.init', { dataDir: nat.newData, port: nat.tempPort });
      },
    },
    {
      id: 'db.native.move',
      title: 'Move the data: roles, then each database by pg_dump -Fc and pg_restore -C -j 2 (the old cluster is only read)',
      check: async (ctx) => ctx.outputs.get('db.native.moved') !== undefined,
      run: async (ctx) => {
        const { old, fresh } = clusters(site, nat, ctx.password);
        await fresh.start();
        const tools = await findPgBinDir({ serverMajor: nat.newMajor });
        await moveDatabases({ from: old.conn(), to: fresh.conn(), tool: { binDir: tools.dir, password: ctx.password }, workDir: workDir(ctx), databases: ctx.outputs.require<string[]>('db.databases', 'db.counts.before'), log: ctx.log });
        fs.rmSync(workDir(ctx), { recursive: true, force: true });
        ctx.outputs.set('db.native.moved', new Date().toISOString());
      },
    },
    {
      id: 'db.native.verify',
      title: 'Compare the row counts of the new cluster with the old one (before the switch)',
      check: async (ctx) => ctx.outputs.get('db.native.verified') !== undefined,
      run: async (ctx) => {
        const { fresh } = clusters(site, nat, ctx.password);
        await fresh.start();
        const diff = countDifferences(ctx.outputs.require('db.counts.before'), await rowCounts(fresh.conn(), ctx.outputs.require<string[]>('db.databases')));
        if (diff.length) throw new VerificationError(`the new cluster's row counts differ (the old cluster is untouched and stays the database):\n${diff.slice(0, 20).map((d) => `  - ${d}`).join('\n')}`);
        ctx.outputs.set('db.native.verified', true);
      },
    },
    {
      id: 'db.native.switch',
      title: `Switch: stop the old cluster, start the new one on port ${site.database.port} (same host and port for every node)`,
      check: async (ctx) => {
        if (!ctx.outputs.get('db.switched')) return false;
        const { fresh } = clusters(site, nat, ctx.password);
        return (await fresh.isRunning()) && confPort(nat.newData) === site.database.port;
      },
      run: async (ctx) => {
        const { old, fresh } = clusters(site, nat, ctx.password);
        ctx.outputs.set('db.switched', { from: nat.oldData, to: nat.newData, port: site.database.port });
        await fresh.stop();
        await old.stop();
        await fresh.writeSettings({ port: site.database.port });
        await fresh.start();
        failPoint('db.native.switch');
      },
    },
  ];
}

/** After a failure once switched: back to the old cluster (never changed) on its port, the services started again. */
function nativeRollback(site: SiteConfig, nat: NativePlan, inputs: DbUpgradeInputs): Step<DbUpgradeContext> {
  return {
    id: 'db.native.rollback',
    title: 'If the run failed after the switch: switch back to the old cluster and start the services (otherwise nothing)',
    always: true,
    onInterrupt: 'run',
    run: async (ctx) => {
      if (!ctx.outputs.get('db.switched') || ctx.outputs.get('db.validated')) return;
      ctx.log('the upgrade failed after the switch: rolling back to the old cluster');
      const order = [...rimNodes(site), centralNode(site)];
      for (const n of order) {
        for (const s of stopServiceSteps<DbUpgradeContext>(n, { idPrefix: 'db.rollback.stop', timeoutMs: inputs.stopTimeoutMs })) if (!(await s.check!(ctx))) await s.run(ctx);
      }
      const { old, fresh } = clusters(site, nat, ctx.password);
      await fresh.stop();
      await fresh.writeSettings({ port: nat.tempPort });
      await old.start();
      for (const n of [centralNode(site), ...rimNodes(site)]) {
        for (const s of startServiceSteps<DbUpgradeContext>(n, { timeoutMs: inputs.startTimeoutMs })) if (!(await s.check!(ctx))) await s.run(ctx);
        if (qlikServices(n).includes('QlikSenseRepositoryService')) await waitRepositoryStep<DbUpgradeContext>(n, { timeoutMs: inputs.startTimeoutMs }).run(ctx);
      }
      ctx.outputs.set('db.switched', undefined);
      ctx.outputs.set('db.rolled-back', { at: new Date().toISOString(), kept: nat.newData });
      // The run has failed already (the step that brought us here); this says where the site is now.
      ctx.log(`rolled back: the old PostgreSQL cluster ${nat.oldData} is the database again on port ${site.database.port}, services started; the new cluster stays in ${nat.newData} (stopped) for inspection`);
    },
  };
}
