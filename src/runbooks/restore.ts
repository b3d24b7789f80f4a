// `qsadmin restore`: the guide's §5 restore (same hostname) and §5.7 restore to a machine with a different hostname.
//
// The procedure, as the plan shows it:
//   preflight → roles missing from globals.sql → in parallel, with the services still running and nothing live
//   touched: a safety dump of every database that will be replaced, each database restored into
//   "<DB>__qsadmin_restore" (created empty before the group; its dump's sha256 and its row counts checked against the
//   manifest), each share folder staged in a folder inside it (live files with the backup's sha256 linked, the others
//   copied from the set with their sha256 checked) → stop the Qlik services (rims first; the
//   database keeps running) → certificates: set aside and remove Qlik certificates already in the stores (QRS deletes
//   duplicates and stops on a second root), import the backup's set without starting anything → one transaction
//   swaps every database in ("<DB>" becomes "<DB>__qsadmin_old") → renames swap the staged share entries in (the
//   replaced ones kept beside them) → --share-root in QSR → supporting content → (new hostname: Repository.exe
//   -bootstrap -standalone -restorehostname, QSD started at its startup line) → start QSD, QRS, the rest; servicestate
//   2 → QRS /qrs/about over mTLS with the restored client certificate → share files in place → drop the
//   "<DB>__qsadmin_old" databases and remove the replaced share entries.
//
// Before the first service stops, everything the restore needs is resolved and checked (exit 2 when it does not fit):
// the backup's nodes against this site's (the manifest at once, the loaded QSR before the stop; --central-only), every
// share destination a folder here (for the guide's copied share, the root the restored QSR names), free space for
// the staging and the safety dumps, no "<DB>__qsadmin_old" of an unfinished restore in the way.
//
// When a step fails, its hint says exactly what the run left (recovery.ts), and the last step (always run) drops the
// working copies and starts the services the run stopped when the site is in one whole state: the old one (nothing
// live changed) or the restored one (every change made). In between they stay stopped and the hint says how to
// finish (resume) or roll back.
import { createPrivateKey } from 'node:crypto';
import { checkedBuild, requireElevated, requireStores } from './operator-checks.js';
import { qlikStores } from '../certs/export.js';
import fs from 'node:fs';
import path from 'node:path';
import { archiveEntries, archivesOf } from '../backup/db-load.js';
import { hashFile, mapLimit } from '../backup/hashcopy.js';
import type { FileKind, Manifest, ManifestFile } from '../backup/manifest.js';
import { extraTarget } from '../backup/manifest-check.js';
import { insideOrThrow } from '../backup/safe-path.js';
import { sameName } from '../certs/classify.js';
import {
  exportSafetyCopy, findConflicts, importIntoStores, localCopiesMatch, localPemFiles, removeCertificates, requireValidSet, safetyCopyComplete, setInstalled, writeLocalCopies, type LoadedSet,
} from '../certs/import.js';
import { storeLabelWithUser } from '../certs/qlik.js';
import { readSecret } from '../cli/secrets.js';
import type { Host } from '../host/types.js';
import { findPgBinDir } from '../postgres/bin.js';
import { serverVersion } from '../postgres/client.js';
import type { PgToolContext } from '../postgres/tools.js';
import { parsePgVersion } from '../postgres/version.js';
import { QrsClient } from '../qrs/client.js';
import { InputError, QsadminError, VerificationError, EXIT, errorMessage } from '../runbook/errors.js';
import type { Runbook, RunbookItem, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { databaseBinHint, databasePassword, superuserConn, type DbConn } from '../site/database.js';
import { centralNode, rimNodes, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, QRS_API_PORT, startOrder, type QlikServiceName } from '../site/services.js';
import { readShareFolders } from '../site/share.js';
import { runRestoreHostname } from '../restore/bootstrap-run.js';
import {
  checkpointSoon, compareCounts, createForLoad, createMissingRoles, databasesOf, dropAll, loadIntoNewName, oldName, restoreName, readSafetyRecord, rowCounts, safetyDump, safetyDumpPath, safetyLoadLines, swapAll, REPOSITORY_ROLE, type DumpFile,
} from '../restore/database.js';
import { isWorkingDatabase } from '../restore/names.js';
import { CHANGES_DONE, LIVE_PREFIX, SERVICES_BEFORE, decideServices, leftState, markLive, onlyCertificates, rollbackLines, servicesLine, type LeftState, type ServiceDecision } from '../restore/recovery.js';
import { nodeDifferences, topologyMessage } from '../restore/topology.js';
import { failPoint } from '../restore/fail-point.js';
import { keepAside } from '../restore/aside.js';
import { setCertsPresent, undoCertificates } from '../restore/cert-undo.js';
import { spaceProblems, stagingBytes } from '../restore/space.js';
import { restoreReport } from '../restore/report.js';
import { precheckSet } from '../restore/precheck.js';
import { isStaged, missingOrResized, oldShareName, refreshMovedLinks, removeOldShare, stageRoot, stagingName, swapRoot, swapRoots, type SwapRoot } from '../restore/stage.js';
import { configDiff, restoreConfigFiles } from '../restore/config.js';
import { copyPlainFolder, newShareFolders, nodesIn, shareFoldersAre, shareRootIn, shareTargets, updateShareFolders, type ShareTarget } from '../restore/share.js';
import { describeSource, detectSource, type RestoreSource } from '../restore/source.js';
import { splitDumpall } from '../restore/dumpall.js';
import type { BuildEnv } from './registry.js';
import { DEFAULT_START_TIMEOUT_MS, hostPool, mapSteps, serviceItems, siteLockKey, startNodeOrder, stopNodeOrder, waitRepositoryStep, type HostsContext } from './service-steps.js';
import { qlikHostnameOf } from './certs.js';

export type RestorePart = 'db' | 'share' | 'certs' | 'config';
export const DEFAULT_PARTS: RestorePart[] = ['db', 'share', 'certs'];

export interface RestoreInputs {
  sitePath: string;
  /** The backup: a set folder or .tar, a folder of <DB>_backup.tar files, or a pg_dumpall file. */
  source: string;
  /** For a set in an encrypted repository (`<url>#<id>`): the variable with its passphrase. */
  passphraseEnv?: string;
  /** The target's (new) hostname: a restore to a machine with a different hostname (§5.7). */
  hostname?: string;
  /** Put the share under this root and point QSR at it. */
  shareRoot?: string;
  only?: RestorePart[];
  /** Restore the central node only: rim nodes are stopped and stay down, to be removed and re-added (guide §5.7). */
  centralOnly?: boolean;
  certPasswordEnv?: string;
  /** Where the safety dumps go (default: <run dir>/safety). */
  safetyDir?: string;
  /** --yes: running services may be stopped and certificates in the stores replaced. */
  yes?: boolean;
  parallel?: number;
  /** --checksum: link a live share file into place only when its sha256 is the backup's (default: size and mtime). */
  checksum?: boolean;
  stopTimeoutMs?: number;
  endStuck?: boolean;
  /** --skip-root-admin-check: restore although the operator was not a RootAdmin at backup time. */
  skipRootAdminCheck?: boolean;
  startTimeoutMs?: number;
  bootstrapTimeoutMs?: number;
}

export interface RestoreContext extends HostsContext {
  conn: DbConn;
  tool: PgToolContext;
  src: RestoreSource;
  certPassword?: string;
  certSet?: LoadedSet;
  safetyDir: string;
  targetHostname: string;
  /** Work started by a step for a later one (the checkpoint after the swap); awaited by the cleanup and on dispose. */
  pending: Array<Promise<unknown>>;
  /** The first step of this attempt that failed (named in the recovery step's log). */
  failed?: string;
}

interface DbPlan {
  name: string;
  owner: string;
  encoding: string;
  dump: DumpFile;
  rowCounts?: Record<string, number>;
  replaces: boolean;
  /** The manifest entries of the database's archives (a set only): their sha256 is checked beside the load. */
  recorded?: ManifestFile[];
}

/** The manifest of a set source, or null for the guide's manual backups. */
function manifestOf(src: RestoreSource): Manifest | null {
  return src.kind === 'set' ? src.manifest : null;
}

/** The databases to restore, with the owner and encoding to create them with. */
async function planDatabases(src: RestoreSource, target: Map<string, { owner: string; encoding: string }>, superuser: string, scratch: string): Promise<DbPlan[]> {
  if (src.kind === 'set') {
    return src.manifest.databases.filter((d) => d.dumped).map((d) => {
      const a = archivesOf(src.dir, src.manifest, d.name)!;
      const e = archiveEntries(src.manifest, d.name)!;
      return { name: d.name, owner: d.owner, encoding: d.encoding, rowCounts: d.rowCounts, replaces: target.has(d.name) || target.has(oldName(d.name)), recorded: [e.main, ...e.tables], dump: { db: d.name, ...a.main, tables: a.tables } };
    });
  }
  if (src.kind === 'guide-tar') {
    // No manifest: keep the owner the target has; else the guide's (QSR: the superuser; the others: qliksenserepository).
    return src.dumps.map((d) => ({
      name: d.db,
      owner: target.get(d.db)?.owner ?? (d.db === 'QSR' ? superuser : REPOSITORY_ROLE),
      encoding: 'UTF8',
      replaces: target.has(d.db) || target.has(oldName(d.db)),
      dump: { db: d.db, file: d.file, compression: 'none' as const },
    }));
  }
  const split = splitDumpall(src.file, scratch);
  if (!split.databases.some((d) => d.name === 'QSR')) throw new InputError(`${src.file} holds no QSR database: it is not a pg_dumpall of a Qlik Sense repository`);
  return split.databases.map((d) => ({
    name: d.name,
    owner: d.owner,
    encoding: d.encoding,
    replaces: target.has(d.name) || target.has(oldName(d.name)),
    dump: { db: d.name, file: d.file, compression: 'none' as const, format: 'sql' as const },
  }));
}

/** The hostname recorded for the central node in the backup (null when the backup does not say). */
function sourceHostname(src: RestoreSource): string | null {
  const m = manifestOf(src);
  return m?.site.nodes.find((n) => n.role === 'central')?.hostname ?? null;
}

/** Fail unless the central node looks like an installed Qlik Sense node (Host.cfg and Repository.exe). */
async function requireQlikNode(host: Host, n: NodeConfig): Promise<void> {
  const missing = [];
  if (!(await host.files.exists(host.paths.hostCfg))) missing.push(host.paths.hostCfg);
  if (!(await host.files.exists(host.paths.repositoryExe))) missing.push(host.paths.repositoryExe);
  if (missing.length) {
    throw new InputError(`${n.name} is not a Qlik Sense node: ${missing.join(' and ')} missing`, 'install Qlik Sense on the target first, without starting its services (guide §5: "deselect Start the Qlik Sense services")');
  }
}

/** Qlik services (not the database) that are not stopped, per node. */
async function runningServices(site: SiteConfig, host: (n: string) => Promise<Host>): Promise<string[]> {
  const out: string[] = [];
  for (const n of site.nodes) {
    for (const s of await (await host(n.name)).services.list()) {
      if ((ALL_QLIK_SERVICES as string[]).includes(s.name) && s.state !== 'stopped' && s.state !== 'absent') out.push(`${n.name}: ${s.name} (${s.state})`);
    }
  }
  return out;
}

/**
 * Wrap a step so that a failure is noted for the recovery step and its hint says exactly what the run left: what is
 * unchanged, what was swapped and how to undo it, and what happens to the services.
 */
function withRollback(step: Step<RestoreContext>, hint: (ctx: RestoreContext) => Promise<string>): Step<RestoreContext> {
  return {
    ...step,
    run: async (ctx) => {
      try {
        await step.run(ctx);
      } catch (e) {
        ctx.failed ??= step.id;
        const code = e instanceof QsadminError ? e.exitCode : EXIT.stepFailed;
        const own = e instanceof QsadminError && e.hint ? `${e.hint}\n` : '';
        let state: string;
        try {
          state = await hint(ctx);
        } catch (h) {
          state = `(what the run left could not be read: ${errorMessage(h)}; qsadmin runs show ${ctx.runId} lists its steps)`;
        }
        throw new QsadminError(errorMessage(e), code, `${own}${state}`);
      }
    },
  };
}

/** Qlik services (not the database) that run now, as "node/service". */
async function qlikServicesUp(site: SiteConfig, host: (n: string) => Promise<Host>): Promise<string[]> {
  const out: string[] = [];
  for (const n of site.nodes) {
    for (const s of await (await host(n.name)).services.list()) {
      if ((ALL_QLIK_SERVICES as string[]).includes(s.name) && s.state !== 'stopped' && s.state !== 'absent') out.push(`${n.name}/${s.name}`);
    }
  }
  return out;
}

/** The services that ran before the run's first stop and do not run now. */
async function stoppedByRun(ctx: RestoreContext): Promise<string[]> {
  const before = ctx.outputs.get<string[]>(SERVICES_BEFORE) ?? [];
  if (!before.length) return [];
  const up = new Set(await qlikServicesUp(ctx.site, ctx.host));
  return before.filter((s) => !up.has(s));
}

/** The kinds of set files each part of a restore reads. */
const KINDS: Record<RestorePart, FileKind[]> = { db: ['db', 'globals'], share: ['share', 'share-outside', 'extra'], certs: ['cert'], config: ['config'] };

/**
 * Check a set before planning (manifest, sizes, dumps' tables of contents, small files' checksums; the big files'
 * checksums are checked on the reads that restore them) and the dumps' server version against the target.
 */
async function verifySource(src: RestoreSource, tool: PgToolContext, targetMajor: number, parts: Set<RestorePart>): Promise<void> {
  if (src.kind === 'set') {
    const problems = await precheckSet(src.dir, src.manifest, new Set([...parts].flatMap((p) => KINDS[p])), tool);
    if (problems.length) throw new VerificationError(`the backup ${src.packed ?? src.dir} failed verification; nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 'use another backup set (qsadmin backup list)');
    const made = parsePgVersion(src.manifest.site.database.serverVersion);
    if (made.major > targetMajor) {
      throw new InputError(`the backup was dumped from PostgreSQL ${src.manifest.site.database.serverVersion}; the target runs PostgreSQL ${targetMajor}: a dump cannot be restored into an older major version`, 'upgrade the target\'s repository database first (QPI, guide §2.6), or restore onto a server of the same or a newer version');
    }
    return;
  }
  if (src.kind === 'dumpall') {
    const v = /^-- Dumped from database version ([0-9.]+)/m.exec(fs.readFileSync(src.file, 'utf8').slice(0, 65536))?.[1];
    if (v && parsePgVersion(v).major > targetMajor) {
      throw new InputError(`${path.basename(src.file)} was dumped from PostgreSQL ${v}; the target runs PostgreSQL ${targetMajor}: a dump cannot be restored into an older major version`, 'upgrade the target\'s repository database first (QPI, guide §2.6)');
    }
    return;
  }
  if (src.kind === 'guide-tar') {
    const { dumpVersions } = await import('../restore/database.js');
    for (const d of src.dumps) {
      let v;
      try {
        v = await dumpVersions(tool, d.file);
      } catch (e) {
        throw new VerificationError(`${d.file} cannot be read by pg_restore: ${errorMessage(e)}`, 'make the dump again with pg_dump -F t');
      }
      if (v.server && parsePgVersion(v.server).major > targetMajor) {
        throw new InputError(`${path.basename(d.file)} was dumped from PostgreSQL ${v.server}; the target runs PostgreSQL ${targetMajor}: a dump cannot be restored into an older major version`, 'upgrade the target\'s repository database first (QPI, guide §2.6)');
      }
    }
  }
}

/** Build the restore runbook; reads the backup and the target (verifies, checks stores and services) but changes nothing. */
export async function buildRestore(inputs: RestoreInputs, env: BuildEnv): Promise<Runbook<RestoreContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const parts = new Set<RestorePart>(inputs.only?.length ? inputs.only : DEFAULT_PARTS);
  const password = await databasePassword(site, env.interactive);
  const conn = superuserConn(site, password);
  let server;
  try {
    server = await serverVersion(conn);
  } catch (e) {
    throw new InputError(`cannot reach the target's repository database at ${conn.host}:${conn.port}: ${errorMessage(e)}`, `start the ${site.database.service ?? 'database'} service (the restore needs it running, guide §5 step 3)`);
  }
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  let client!: Awaited<ReturnType<typeof findPgBinDir>>;
  await checkedBuild(pool, async () => {
    client = await findPgBinDir({ hint: await databaseBinHint(site, () => pool.host(site.database.node!)), serverMajor: server.major });
  });
  const tool: PgToolContext = { binDir: client.dir, password };
  const central = centralNode(site);
  try {
    const src = await detectSource(inputs.source, path.join(env.stateDir, 'restore-sources'), { passphraseEnv: inputs.passphraseEnv, log: (l) => process.stderr.write(`${l}\n`) });
    const manifest = manifestOf(src);
    const host = await pool.host(central.name);
    await requireQlikNode(host, central);
    await requireElevated(pool.host, [central], 'qsadmin restore');
    // The guide's guard: the operator had RootAdmin at backup time (read from the set's Users rows; a manual backup has none to read).
    if (src.kind === 'set' && parts.has('db') && !inputs.skipRootAdminCheck) {
      const { rootAdminsOfSet, requireFormerRootAdmin } = await import('../restore/root-admin.js');
      requireFormerRootAdmin((await host.machine.identity()).user, await rootAdminsOfSet(src.packed ?? src.dir, client.dir));
    }
    if (parts.has('certs')) await requireStores(pool.host, [central], qlikStores(site.serviceAccount), 'qsadmin restore');
    const { hostname: targetHostname } = await qlikHostnameOf(host, central);
    const fromHost = sourceHostname(src);
    if (inputs.hostname && !sameName(inputs.hostname, targetHostname)) {
      throw new InputError(`--hostname ${inputs.hostname} is not this node's Qlik hostname: Host.cfg on ${central.name} says ${targetHostname}`, 'install Qlik Sense on the new machine under its new name first; Host.cfg is never restored onto a new hostname');
    }
    if (fromHost && !sameName(fromHost, targetHostname) && !inputs.hostname) {
      throw new InputError(`the backup is of ${fromHost} but the target is ${targetHostname}`, `to restore onto a machine with a different hostname (guide §5.7) pass --hostname ${targetHostname}`);
    }
    const newHost = !!inputs.hostname && (fromHost === null || !sameName(fromHost, inputs.hostname));
    if (parts.has('config') && newHost) throw new InputError('--only config restores local files onto the same host only: Host.cfg and the configs are never restored onto a new hostname');
    if (parts.has('config') && !manifest) throw new InputError('--only config needs a qsadmin backup set: the guide\'s manual backups hold no config files');

    await verifySource(src, tool, server.major, parts);
    const targetDbs = await databasesOf(conn);
    const planned = parts.has('db') ? await planDatabases(src, targetDbs, site.database.superuser, path.join(env.stateDir, 'restore-sources')) : [];
    // A backup made while an unfinished restore left its working copies may hold them: they are not the site's.
    const dbs = planned.filter((d) => !isWorkingDatabase(d.name));
    const skippedWorking = planned.filter((d) => isWorkingDatabase(d.name)).map((d) => d.name);
    if (manifest && parts.has('db') && !newHost && !inputs.centralOnly) {
      const backupNodes = manifest.site.nodes.map((n) => ({ hostname: n.hostname, central: n.role === 'central' }));
      const diff = nodeDifferences(backupNodes, site.nodes.map((n) => ({ hostname: n.hostname, central: n.role === 'central' })));
      if (diff.length) {
        const t = topologyMessage(diff, backupNodes.length, site.nodes.length);
        throw new InputError(t.message, t.hint);
      }
    }

    // Certificates: the central node's set from the backup.
    let certSet: LoadedSet | undefined;
    let certPassword: string | undefined;
    let conflicts: Awaited<ReturnType<typeof findConflicts>> = [];
    const fromNode = manifest?.site.nodes.find((n) => n.role === 'central')?.name ?? central.name;
    const certDir = src.kind === 'set' ? path.join(src.dir, 'certs', fromNode) : null;
    if (parts.has('certs') && certDir && fs.existsSync(certDir)) {
      const envName = inputs.certPasswordEnv ?? 'QSADMIN_CERT_PASSWORD';
      certPassword = await readSecret({ label: 'password of the backup\'s certificate PFX files', env: envName, flag: '--cert-password-env' }, env.interactive);
      certSet = (await requireValidSet(certDir, certPassword, { expectHostname: targetHostname, allowOtherHost: newHost, requireRootKey: true })).set;
      conflicts = await findConflicts(host, certSet, site.serviceAccount);
      if (conflicts.length && !inputs.yes && !env.dryRun) {
        throw new InputError(
          `${targetHostname} already holds ${conflicts.length} Qlik certificate(s) that are not the backup's; QRS deletes duplicate client and server certificates and stops on a second root; nothing was changed:\n${conflicts.map((c) => `  - ${c.subject} (${c.thumbprint}) in ${storeLabelWithUser(c.store)}`).join('\n')}`,
          'pass --yes to export them into the run\'s safety folder and remove them (and empty Exported Certificates)',
        );
      }
    }
    const running = await runningServices(site, pool.host);
    if (running.length && !inputs.yes && !env.dryRun) {
      throw new InputError(`Qlik services are running on the target; nothing was changed:\n${running.map((r) => `  - ${r}`).join('\n')}`, 'stop them (qsadmin services stop), or pass --yes to let the restore stop them (rims first)');
    }
    const shareParts = parts.has('share');
    const targets = shareParts && manifest ? shareTargets(src.kind === 'set' ? src.dir : '', manifest.site.share, inputs.shareRoot) : [];
    const plainShare = shareParts && src.kind !== 'set' ? src.shareDir : undefined;
    const configNotes = parts.has('config') && manifest ? await configDiff(host, src.kind === 'set' ? src.dir : '', manifest, fromNode) : [];

    const notes = buildNotes({ src, site, targetHostname, fromHost, newHost, dbs, skippedWorking, targets, plainShare, conflicts: conflicts.length, running, parts, inputs, certSet, configNotes });
    const dumpallGlobals = src.kind === 'dumpall' && dbs.length ? splitDumpall(src.file, path.join(env.stateDir, 'restore-sources')).globals : undefined;
    let roots: SwapRoot[] = [];
    try {
      roots = manifest ? swapRoots(manifest.files, targets, (p) => host.files.resolve(p)) : [];
    } catch (e) {
      throw new InputError(`a share folder of the backup cannot be opened on ${central.name}: ${errorMessage(e)}; nothing was changed`, 'pass --share-root <the share folder of this site>: the share goes there and QSR is pointed at it');
    }
    for (const r of roots) {
      if (!fs.statSync(r.local, { throwIfNoEntry: false })?.isDirectory()) {
        throw new InputError(
          `the share folder ${r.dest} (${r.roles.join(', ')}${inputs.shareRoot ? ', under --share-root' : ', as the backup recorded it'}) is not a folder on ${central.name} (${r.local}); nothing was changed`,
          inputs.shareRoot ? 'pass --share-root an existing folder: the share of this site' : 'pass --share-root <the share folder of this site>: the share goes there and QSR is pointed at it',
        );
      }
    }
    // Room for the staging copies and the safety dumps, before anything runs.
    const setDumpBytes = (db: string) => (manifest?.files ?? []).filter((f) => f.kind === 'db' && f.database === db).reduce((n, f) => n + f.bytes, 0);
    const guideDumpBytes = (db: string) => (src.kind === 'guide-tar' ? (src.dumps.filter((d) => d.db === db).reduce((n, d) => n + fs.statSync(d.file).size, 0)) : 0);
    const short = spaceProblems([
      ...(parts.has('share') ? roots.map((r) => ({ what: `staging of the share folder ${r.dest}`, dir: r.local, bytes: stagingBytes(r) })) : []),
      { what: 'safety dumps of the databases it replaces', dir: inputs.safetyDir ?? env.stateDir, bytes: dbs.filter((d) => d.replaces).reduce((n, d) => n + setDumpBytes(d.name) + guideDumpBytes(d.name), 0) },
    ]);
    if (short.length) throw new InputError(`not enough free space for the restore; nothing was changed:\n${short.map((x) => `  - ${x}`).join('\n')}`, 'free space there, or put the safety dumps elsewhere with --safety-dir');
    const items = buildItems({ site, inputs, parts, dbs, roots, plainShare, newHost, central, manifest, certSet, fromNode, src, dumpallGlobals, serverMajor: server.major });
    const safetyDir = (ctx: StepContext) => (inputs.safetyDir ? path.resolve(inputs.safetyDir) : path.join(ctx.runDir, 'safety'));

    return {
      name: 'restore',
      site: path.resolve(inputs.sitePath),
      lockKey: siteLockKey(site),
      inputs: { ...inputs, source: path.resolve(inputs.source), ...(inputs.shareRoot ? { shareRoot: inputs.shareRoot } : {}) },
      secrets: [password, certPassword],
      notes,
      items,
      report: restoreReport,
      context: (b: StepContext): RestoreContext => ({ ...b, site, host: pool.host, conn, tool, src, certPassword, certSet, safetyDir: safetyDir(b), targetHostname, pending: [] }),
      dispose: async (ctx) => {
        await Promise.allSettled(ctx.pending);
        await pool.closeAll();
      },
      close: () => pool.closeAll(),
    };
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
}

interface NotesIn {
  src: RestoreSource;
  site: SiteConfig;
  targetHostname: string;
  fromHost: string | null;
  newHost: boolean;
  dbs: DbPlan[];
  skippedWorking: string[];
  targets: ShareTarget[];
  plainShare?: string;
  conflicts: number;
  running: string[];
  parts: Set<RestorePart>;
  inputs: RestoreInputs;
  certSet?: LoadedSet;
  configNotes: string[];
}

/** The lines above the plan: what is restored, from where, onto what, and what would be overwritten. */
function buildNotes(o: NotesIn): string[] {
  const notes = [`source: ${describeSource(o.src)}`, `target: ${o.site.name}, central node ${o.targetHostname}${o.newHost ? ` (NEW hostname; the backup is of ${o.fromHost ?? 'an unknown host'}: guide §5.7)` : ''}`];
  notes.push(`parts: ${[...o.parts].join(', ')}`);
  for (const d of o.dbs) {
    notes.push(`database ${d.name}: restored into "${restoreName(d.name)}" (createdb -T template0 -E ${d.encoding} -O ${d.owner}), rows checked${d.rowCounts ? ' against the manifest' : ' (no manifest: not checked)'}, then swapped in${d.replaces ? `; OVERWRITES the existing ${d.name} (its safety dump is taken first and kept; renamed "${oldName(d.name)}" by the swap and dropped while the services start)` : ' (new on this server)'}`);
  }
  if (o.skippedWorking.length) notes.push(`not restored: ${o.skippedWorking.join(', ')} (working copies of an unfinished qsadmin restore that the backup caught; never part of the site)`);
  if (o.dbs.length) notes.push('database choice: restore into a new name and swap (not drop-then-create): the current database stays intact until the restored one is complete and its row counts match; roles missing on the server are created from globals.sql, no password is set or changed');
  for (const t of o.targets) notes.push(`share ${t.role}: ${t.stored} → ${t.dest} (staged in a folder there while the services run: live files that already have the backup's ${o.inputs.checksum ? 'sha256 (--checksum)' : 'size and mtime (rsync\'s quick check, as a nightly backup decides; --checksum hashes them)'} are hard-linked, the others copied from the set with their sha256 checked; then swapped in by rename: files that differ from the backup are REPLACED, kept in ${oldShareName('<run id>')} until the restore is verified; files not in the backup are left in place and listed)`);
  if (o.plainShare) notes.push(`share: the copied share ${o.plainShare} → ${o.inputs.shareRoot ?? 'the share root QSR names'} (files with the same name are OVERWRITTEN, each moved to ${oldShareName('<run id>')} in the share root first and kept until the restore is verified)`);
  if (o.inputs.shareRoot) notes.push(`--share-root ${o.inputs.shareRoot}: RootFolder, AppFolder, StaticContentRootFolder and ArchivedLogsRootFolder of ServiceClusterSettingsSharedPersistenceProperties are updated by SQL, the connector columns left alone. NOTE: this SQL route is not the guide's; the guide changes the share paths with QlikSenseUtil ("Service cluster")`);
  if (o.certSet) notes.push(`certificates: the set of ${o.certSet.hostname} (CA ${o.certSet.ca.subject}) imported without starting services${o.conflicts ? `; ${o.conflicts} Qlik certificate(s) now in the stores are exported to the safety folder and REMOVED, and Exported Certificates is emptied (moved to the safety folder)` : ''}`);
  else if (o.parts.has('certs')) notes.push('certificates: none in this backup: the target keeps its own (a new hostname needs the old site\'s certificates, guide §5.7)');
  if (o.running.length) notes.push(`running services are stopped first (rims first): ${o.running.join(', ')}`);
  if (o.inputs.centralOnly && !o.newHost && rimNodes(o.site).length) notes.push(`--central-only: rim nodes are stopped and stay DOWN; remove and re-add them (guide §5.7): ${rimNodes(o.site).map((r) => r.name).join(', ')}`);
  if (o.newHost) {
    notes.push('new hostname: Repository.exe -bootstrap -standalone -restorehostname; QSD is started at "[INFO] Entering main startup phase...", ENTER is sent at "Bootstrap mode has terminated. Press ENTER to exit.."; Host.cfg keeps the new hostname');
    const rims = rimNodes(o.site);
    if (rims.length) notes.push(`rim nodes stay DOWN and must be removed and re-added (guide §5.7): ${rims.map((r) => r.name).join(', ')}`);
  }
  notes.push(...o.configNotes);
  notes.push(`safety: each replaced database is dumped (pg_dump -Fc) into ${o.inputs.safetyDir ?? '<run dir>/safety'} first and kept; a failure says what it left and how to undo it (no commands when nothing live changed)`);
  notes.push(`elevation, the certificate stores and the operator's RootAdmin role at backup time (guide §5.7): checked on the central node before anything changes${o.inputs.skipRootAdminCheck ? ' (the RootAdmin check skipped: --skip-root-admin-check)' : ''}`);
  return notes;
}

interface ItemsIn {
  site: SiteConfig;
  inputs: RestoreInputs;
  parts: Set<RestorePart>;
  dbs: DbPlan[];
  /** The share targets of a set, grouped into the folders that are staged and swapped as one. */
  roots: SwapRoot[];
  plainShare?: string;
  newHost: boolean;
  central: NodeConfig;
  serverMajor: number;
  manifest: Manifest | null;
  certSet?: LoadedSet;
  fromNode: string;
  src: RestoreSource;
  /** The roles part of a split pg_dumpall file. */
  dumpallGlobals?: string;
}

/**
 * Every step of the restore in order. What reads the backup and writes only new things runs first, in one parallel
 * group, with the services still running: the safety dumps, the loads into new database names and the staging of
 * the share. Then the services stop and the short critical section follows: certificates, one
 * transaction that swaps the databases, renames that swap the share. The replaced databases and share entries are
 * removed only after QRS answered with the restored certificate.
 */
function buildItems(o: ItemsIn): RunbookItem<RestoreContext>[] {
  const items: RunbookItem<RestoreContext>[] = [];
  const c = o.central.name;
  const guard = (s: Step<RestoreContext>) => withRollback(s, (ctx) => failureHint(ctx, o));

  items.push(guard({
    id: 'restore.preflight',
    title: 'Preflight: the target database answers, no database replaced by an unfinished earlier restore is in the way, the safety folder is writable',
    check: async () => false,
    run: async (ctx) => {
      await serverVersion(ctx.conn);
      const have = await databasesOf(ctx.conn);
      for (const d of o.dbs) {
        // This run's own "<DB>__qsadmin_old" (swapped by an earlier attempt) is fine; another run's is its rollback copy.
        if (have.has(oldName(d.name)) && !ctx.outputs.get(`db.swapped.${d.name}`)) {
          throw new InputError(
            `"${oldName(d.name)}" exists: the ${d.name} an earlier restore replaced, kept because that restore did not finish; nothing was changed`,
            `finish or roll back that restore first (qsadmin runs list, then its failure hint); once it is not needed: dropdb -h ${ctx.conn.host} -p ${ctx.conn.port} -U ${ctx.conn.user} "${oldName(d.name)}"`,
          );
        }
      }
      fs.mkdirSync(ctx.safetyDir, { recursive: true, mode: 0o700 });
      fs.accessSync(ctx.safetyDir, fs.constants.W_OK);
      ctx.outputs.set('safetyDir', ctx.safetyDir);
    },
  }));
  const roles = rolesStep(o);
  if (roles) items.push(guard(roles));
  const create = createStep(o);
  if (create) items.push(guard(create));
  const prepare = [...safetySteps(o), ...loadSteps(o), ...stageSteps(o)].map(guard);
  if (prepare.length) {
    items.push({ group: 'restore.prepare', title: 'With the services still running: safety dumps, loads into new names, share files into staging (checksums checked)', parallel: true, steps: prepare });
  }
  const restored = restoredCheckStep(o);
  if (restored) items.push(guard(restored));
  items.push(guard({
    id: 'restore.services.before',
    title: 'Note which Qlik services run now (a restore that fails starts them again when the site is in one whole state)',
    check: async (ctx) => ctx.outputs.get(SERVICES_BEFORE) !== undefined,
    run: async (ctx) => ctx.outputs.set(SERVICES_BEFORE, await qlikServicesUp(ctx.site, ctx.host)),
  }));
  for (const n of stopNodeOrder(o.site)) items.push(...mapSteps(serviceItems<RestoreContext>(n, 'stop', { timeoutMs: o.inputs.stopTimeoutMs, idPrefix: 'restore.stop', endStuck: o.inputs.endStuck }), guard));
  // The part with the services down is one section: a signal that comes once it began lets it finish (the services
  // then start on the restored state); one that comes before it lets the services start on the untouched live state.
  const critical: Step<RestoreContext>[] = [...(o.certSet ? certSteps(c) : []), ...swapSteps(o), ...(o.parts.has('share') ? shareSteps(o) : [])];
  const section = (s: Step<RestoreContext>): Step<RestoreContext> => (critical.length ? { ...s, onInterrupt: { after: critical[0].id } } : s);
  items.push(...critical.map((s) => guard(section(s))));
  if (o.parts.has('config') && o.manifest) {
    items.push(guard(section({
      id: 'restore.config',
      title: `Restore the local configuration files of ${c} (same host, same Qlik version)`,
      node: c,
      check: async (ctx) => !!ctx.outputs.get('config.restored'),
      run: async (ctx) => {
        markLive(ctx.outputs, 'config');
        const written = await restoreConfigFiles(await ctx.host(c), (o.src as { dir: string }).dir, o.manifest!, o.fromNode, path.join(ctx.safetyDir, 'config'));
        ctx.log(`restored ${written.join(', ')}; the files they replaced are in ${path.join(ctx.safetyDir, 'config')}`);
        ctx.outputs.set('config.restored', written);
      },
    })));
  }
  if (o.newHost) items.push(guard(section(hostnameStep(o.central, o.inputs.bootstrapTimeoutMs ?? 300_000))));
  // Every change is in place once the first service starts: a failure from here on leaves the restored state.
  // After a signal the services still start (on whichever state the section left: all old or all restored).
  const starting = (s: Step<RestoreContext>): Step<RestoreContext> => guard({
    ...s,
    onInterrupt: 'run',
    run: async (ctx) => {
      if (!ctx.outputs.get(CHANGES_DONE)) ctx.outputs.set(CHANGES_DONE, new Date().toISOString());
      await s.run(ctx);
    },
  });
  for (const n of startNodesOf(o)) {
    items.push(...mapSteps(serviceItems<RestoreContext>(n, 'start', { timeoutMs: o.inputs.startTimeoutMs, idPrefix: 'restore.start' }), starting));
    if ((n.services ?? ALL_QLIK_SERVICES).includes('QlikSenseRepositoryService')) items.push(guard({ ...waitRepositoryStep<RestoreContext>(n, { timeoutMs: o.inputs.startTimeoutMs, idPrefix: 'restore.start' }), onInterrupt: 'run' }));
  }
  items.push(guard(verifyQrsStep(o.central)));
  if (o.roots.length) {
    items.push(guard({
      id: 'restore.verify.share',
      title: 'Check that every share file of the backup is in place with its size (its sha256 was checked when it was staged)',
      run: async () => {
        const bad = o.roots.flatMap(missingOrResized);
        if (bad.length) throw new VerificationError(`${bad.length} share file(s) are missing or have another size than in the backup: ${bad.slice(0, 5).join(', ')}`);
      },
    }));
  }
  const replaced = o.dbs.filter((d) => d.replaces);
  if (replaced.length || o.roots.length || o.plainShare) {
    items.push(guard({
      id: 'restore.cleanup',
      title: `Drop the replaced databases (${replaced.map((d) => `"${oldName(d.name)}"`).join(', ') || 'none'}) and remove the replaced share files; the safety dumps are kept`,
      run: async (ctx) => {
        await Promise.allSettled(ctx.pending);
        const plain = ctx.outputs.get<{ local: string }>('share.copy');
        const plainOld = plain ? [fs.promises.rm(path.join(plain.local, oldShareName(ctx.runId)), { recursive: true, force: true })] : [];
        // One connection for the drops, the share folders removed beside them: neither waits for the other.
        await Promise.all([dropAll(ctx.conn, replaced.map((d) => oldName(d.name)), o.serverMajor), ...o.roots.map((r) => removeOldShare(r, ctx.runId)), ...plainOld]);
        ctx.log(`safety dumps kept in ${ctx.safetyDir}`);
      },
    }));
  }
  items.push(recoverStep(o));
  return items;
}

/** Wait until QRS reports servicestate 2 (running). */
async function untilRepositoryRuns(host: Host, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | null = null;
  while (Date.now() < deadline) {
    last = await host.services.repositoryState();
    if (last === 2) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`QRS on ${host.name} did not reach servicestate 2 after it was started again (last: ${last ?? 'none'})`);
}

/** The nodes whose services the restore starts: the central one only after a new hostname or with --central-only. */
function startNodesOf(o: ItemsIn): NodeConfig[] {
  return o.newHost || o.inputs.centralOnly ? [o.central] : [o.central, ...rimNodes(o.site)];
}

/** The backup's certificates that were in the stores before the run changed them (kept there by an undo). */
const CERTS_PRESENT = 'certs.present';

/**
 * When the stores are the only live change (a failure before the database swap), put them back: the node is then
 * as before the run and its services can start. Returns what it did; the markers go, so the state reads unchanged.
 */
async function undoCertsIfOnly(ctx: RestoreContext, o: ItemsIn): Promise<string[]> {
  if (!ctx.certSet || !onlyCertificates(await stateOf(ctx, o))) return [];
  const done = await undoCertificates(await ctx.host(o.central.name), {
    set: ctx.certSet, serviceAccount: ctx.site.serviceAccount, presentBefore: ctx.outputs.get<string[]>(CERTS_PRESENT) ?? [], safetyDir: path.join(ctx.safetyDir, 'certificates'), password: ctx.certPassword!,
  });
  for (const k of Object.keys(ctx.outputs.all())) if (k.startsWith(`${LIVE_PREFIX}certs.`)) ctx.outputs.set(k, null);
  ctx.outputs.set('certs.undone', done);
  return done;
}

/** Where the guide's copied share goes when QSR's share root is the destination: recorded before the swap. */
const PLAIN_ROOT = 'share.copy.root';

/**
 * Before the first service stops: what the restore will need from the restored QSR, read from its loaded copy. Its
 * nodes must be this site's (a rim that QSR does not name cannot start its repository); the share root it names must
 * be a folder here when the guide's copied share goes there (else --share-root).
 */
function restoredCheckStep(o: ItemsIn): Step<RestoreContext> | null {
  const qsr = o.dbs.some((d) => d.name === 'QSR');
  if (!(qsr && !o.newHost && !o.inputs.centralOnly) && !o.plainShare) return null;
  return {
    id: 'restore.check.restored',
    title: `Before any service stops: ${o.plainShare ? 'the share root for the copied share is a folder on this node' : ''}${o.plainShare && qsr ? ', and ' : ''}${qsr ? 'the restored QSR names the nodes of this site' : ''}`,
    node: o.central.name,
    check: async (ctx) => !!ctx.outputs.get('db.swapped.QSR') && (!o.plainShare || !!ctx.outputs.get(PLAIN_ROOT)),
    run: async (ctx) => {
      const db = qsr ? restoreName('QSR') : 'QSR';
      if (qsr && !o.newHost && !o.inputs.centralOnly) {
        const backup = await nodesIn(ctx.conn, db);
        const diff = nodeDifferences(backup, o.site.nodes.map((n) => ({ hostname: n.hostname, central: n.role === 'central' })));
        if (diff.length) {
          const t = topologyMessage(diff, backup.length, o.site.nodes.length);
          throw new InputError(t.message, t.hint);
        }
      }
      if (o.plainShare) {
        const root = o.inputs.shareRoot ?? (await shareRootIn(ctx.conn, db));
        let local: string;
        try {
          local = (await ctx.host(o.central.name)).files.resolve(root);
        } catch (e) {
          local = errorMessage(e); // a path this node cannot open at all (a UNC path on the emulator)
        }
        if (!fs.statSync(local, { throwIfNoEntry: false })?.isDirectory()) {
          throw new InputError(
            `the share root ${root}${o.inputs.shareRoot ? '' : ', named by the backup\'s QSR,'} is not a folder on ${o.central.name} (${local}); nothing was changed`,
            o.inputs.shareRoot ? 'pass --share-root an existing folder: the share of this site' : 'pass --share-root <the share folder of this site>: the copied share goes there and QSR is pointed at it',
          );
        }
        ctx.outputs.set(PLAIN_ROOT, root);
      }
    },
  };
}

/** The hint of a failed step: exactly what the run left, how to undo it, what happens to the services. */
async function failureHint(ctx: RestoreContext, o: ItemsIn): Promise<string> {
  // The replaced databases are dropped beside the service start once swapped: describe the state after that drop.
  await Promise.allSettled(ctx.pending);
  let undone: string[] = [];
  try {
    undone = await undoCertsIfOnly(ctx, o);
  } catch (e) {
    undone = [`FAILED: ${errorMessage(e)}`];
  }
  const state = await stateOf(ctx, o);
  const lines: string[] = [];
  if (undone.length) lines.push(`Certificates: the run's changes to the stores were undone (${undone.join('; ')})`);
  if (state.nothingLive) {
    lines.push('Nothing live was changed: the databases, the share and the certificates are as they were (the run\'s working copies are removed).');
  } else {
    lines.push(...rollbackLines(state, {
      conn: ctx.conn, runDir: ctx.runDir, runId: ctx.runId, safetyDir: ctx.safetyDir,
      owners: new Map(o.dbs.map((d) => [d.name, d.owner])), load: (db) => safetyLoadLines(ctx.conn, db, ctx.safetyDir), certSafety: path.join(ctx.safetyDir, 'certificates'), binDir: ctx.tool.binDir,
    }));
  }
  const roles = ctx.outputs.get<string[]>('roles.created');
  if (roles?.length) lines.push(`Roles created from the backup (new, without passwords): ${roles.join(', ')}`);
  const line = servicesLine((await servicesDecision(ctx, o, state)).d, { runId: ctx.runId, site: o.inputs.sitePath });
  if (line) lines.push(line);
  lines.push(state.nothingLive ? `Fix the cause, then resume (qsadmin runs resume ${ctx.runId}) or start a new restore` : `Or fix the cause and resume: qsadmin runs resume ${ctx.runId} --yes`);
  return lines.join('\n');
}

/** What to do with the services the run stopped; on the restored state the rims of a new hostname (or --central-only) stay down, as planned. */
async function servicesDecision(ctx: RestoreContext, o: ItemsIn, state: LeftState): Promise<{ nodes: NodeConfig[]; d: ServiceDecision }> {
  const nodes = state.nothingLive ? startNodeOrder(o.site) : startNodesOf(o);
  const mine = (await stoppedByRun(ctx)).filter((x) => nodes.some((n) => x.startsWith(`${n.name}/`)));
  return { nodes, d: decideServices(state, ctx.outputs, mine) };
}

/** The state the run left, from its outputs and what exists now. */
async function stateOf(ctx: RestoreContext, o: ItemsIn): Promise<LeftState> {
  const have = new Set((await databasesOf(ctx.conn)).keys());
  const plain = ctx.outputs.get<{ local: string }>('share.copy')?.local ?? (ctx.outputs.get<string>(PLAIN_ROOT) ? (await ctx.host(o.central.name)).files.resolve(ctx.outputs.get<string>(PLAIN_ROOT)!) : undefined);
  return leftState({ outputs: ctx.outputs, runId: ctx.runId, dbs: o.dbs.map((d) => d.name), roots: o.roots, have, plainAside: plain ? path.join(plain, oldShareName(ctx.runId)) : undefined });
}

/**
 * Always last. After a failure: the working copies of the databases are dropped (they are never live), staging
 * folders whose swap did not start are removed (copies and links only), and the services the run stopped are started
 * again when the site is in one whole state (see decideServices); in a mixed state they stay stopped, as the hint says.
 */
function recoverStep(o: ItemsIn): Step<RestoreContext> {
  return {
    id: 'restore.recover',
    title: 'If a step failed: drop the working copies of the databases (and the share staging, when nothing live changed), start the stopped services again unless the site is partly restored',
    always: true,
    check: async () => false,
    run: async (ctx) => {
      // Decided from what exists, not from ctx.failed alone: after a run that ended early for any reason it does the
      // same, and after a run that finished it finds nothing to do (no working copy left, the services up).
      await Promise.allSettled(ctx.pending);
      const have = await databasesOf(ctx.conn);
      const working = o.dbs.map((d) => restoreName(d.name)).filter((n) => have.has(n));
      await dropAll(ctx.conn, working, o.serverMajor);
      for (const l of await undoCertsIfOnly(ctx, o)) ctx.log(l);
      const state = await stateOf(ctx, o);
      // Staging holds copies and links only; once anything live changed, a resume needs it (the hint names it).
      if (state.nothingLive) for (const r of o.roots) await fs.promises.rm(path.join(r.local, stagingName(ctx.runId)), { recursive: true, force: true });
      ctx.log(`dropped the working copies ${working.join(', ') || '(none)'}${state.nothingLive ? '; removed the share staging' : ''}`);
      const { nodes, d } = await servicesDecision(ctx, o, state);
      if (d.action === 'none') return void ctx.log(ctx.failed ? 'no service to start again' : 'nothing to recover');
      if (d.action === 'leave-stopped') return void ctx.log(`services left stopped (the site is partly restored): ${d.services.join(', ')}`);
      const want = nodes.map((n) => ({ n, svcs: d.services.filter((s) => s.startsWith(`${n.name}/`)).map((s) => s.slice(n.name.length + 1)) }));
      for (const { n, svcs } of want) {
        if (!svcs.length) continue;
        const host = await ctx.host(n.name);
        for (const tier of startOrder(svcs as QlikServiceName[])) {
          await Promise.all(tier.map((svc) => host.services.start(svc, { timeoutMs: o.inputs.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS })));
        }
        if (svcs.includes('QlikSenseRepositoryService')) await untilRepositoryRuns(host, o.inputs.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
        ctx.log(`started again on ${n.name} (${d.state} state): ${svcs.join(', ')}`);
      }
      ctx.outputs.set('recover.started', { state: d.state, services: d.services });
    },
  };
}

/** Certificates: set aside and remove what QRS would trip over, import the set, write the PEM copies; no service started. */
function certSteps(c: string): Step<RestoreContext>[] {
  const conflicts = async (ctx: RestoreContext) => findConflicts(await ctx.host(c), ctx.certSet!, ctx.site.serviceAccount);
  const certSafety = (ctx: RestoreContext) => path.join(ctx.safetyDir, 'certificates');
  return [
    {
      id: 'restore.certs.safety-export',
      title: 'Export the Qlik certificates now in the stores that are not the backup\'s into the safety folder',
      node: c,
      destructive: true,
      check: async (ctx) => {
        const list = await conflicts(ctx);
        return list.length === 0 || safetyCopyComplete(certSafety(ctx), list);
      },
      run: async (ctx) => {
        const list = await conflicts(ctx);
        const r = await exportSafetyCopy(await ctx.host(c), list, ctx.certPassword!, certSafety(ctx));
        ctx.log(`exported ${list.length} certificate(s) to ${r.dir}`);
      },
    },
    {
      id: 'restore.certs.remove',
      title: 'Remove them from the stores and empty Exported Certificates (moved to the safety folder)',
      node: c,
      destructive: true,
      check: async (ctx) => (await conflicts(ctx)).length === 0 && !!ctx.outputs.get('certs.exported-emptied'),
      run: async (ctx) => {
        const host = await ctx.host(c);
        const list = await conflicts(ctx);
        if (list.length === 0) {
          ctx.outputs.set('certs.exported-emptied', true);
          return;
        }
        if (!(await safetyCopyComplete(certSafety(ctx), list))) throw new Error(`refusing to remove certificates that are not in ${certSafety(ctx)}: resume so the safety export runs again`);
        if (!ctx.outputs.get(CERTS_PRESENT)) ctx.outputs.set(CERTS_PRESENT, await setCertsPresent(host, ctx.certSet!, ctx.site.serviceAccount));
        markLive(ctx.outputs, 'certs.remove');
        for (const r of await removeCertificates(host, list)) ctx.log(`removed ${r.subject} (${r.thumbprint}) from ${r.store}`);
        const exported = host.files.resolve(host.paths.exportedCertificates);
        if (fs.existsSync(exported) && list.length) {
          const keep = path.join(certSafety(ctx), 'Exported Certificates');
          fs.mkdirSync(keep, { recursive: true, mode: 0o700 });
          fs.cpSync(exported, keep, { recursive: true });
          for (const e of fs.readdirSync(exported)) fs.rmSync(path.join(exported, e), { recursive: true, force: true });
        }
        ctx.outputs.set('certs.exported-emptied', true);
      },
    },
    {
      id: 'restore.certs.import',
      title: 'Import the backup\'s certificate set into LocalMachine\\My and \\Root and the service account\'s CurrentUser\\My and \\Root (certs import --no-start)',
      node: c,
      check: async (ctx) => setInstalled(await ctx.host(c), ctx.certSet!, ctx.site.serviceAccount),
      run: async (ctx) => {
        const host = await ctx.host(c);
        if ((await conflicts(ctx)).length) throw new Error('Qlik certificates that are not the backup\'s are still in the stores');
        if (!ctx.outputs.get(CERTS_PRESENT)) ctx.outputs.set(CERTS_PRESENT, await setCertsPresent(host, ctx.certSet!, ctx.site.serviceAccount));
        markLive(ctx.outputs, 'certs.import');
        for (const x of await importIntoStores(host, ctx.certSet!, ctx.certPassword!, ctx.site.serviceAccount)) ctx.log(`imported ${x.subject} (${x.thumbprint}) into ${x.store}`);
      },
    },
    {
      id: 'restore.certs.pem',
      title: 'Write the PEM copies to Exported Certificates\\.Local Certificates',
      node: c,
      check: async (ctx) => localCopiesMatch(await ctx.host(c), ctx.certSet!),
      run: async (ctx) => {
        const host = await ctx.host(c);
        // The same certificates and keys in another PEM encoding (a key read back from a PFX): nothing to change.
        if (await localCopiesEquivalent(host, ctx.certSet!)) return void ctx.log('the PEM copies already hold the backup\'s certificates and keys');
        // The PEM copies it overwrites go to the safety folder first (a failure before the swap puts them back).
        for (const f of localPemFiles(ctx.certSet!)) await keepAside(host, path.win32.join(host.paths.localCertificates, f.name), path.join(certSafety(ctx), 'local-pem'));
        markLive(ctx.outputs, 'certs.pem');
        await writeLocalCopies(host, ctx.certSet!);
      },
    },
  ];
}

/** True when every PEM copy on the node holds the set's certificate or key (keys compared as PKCS#8, not as text). */
async function localCopiesEquivalent(host: Host, set: LoadedSet): Promise<boolean> {
  const canonical = (pem: string) => {
    if (!/PRIVATE KEY-----/.test(pem)) return pem.replace(/\r\n/g, '\n').trim();
    return createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }).toString('base64');
  };
  try {
    for (const f of localPemFiles(set)) {
      const p = path.win32.join(host.paths.localCertificates, f.name);
      if (!(await host.files.exists(p))) return false;
      if (canonical((await host.files.read(p)).toString('utf8')) !== canonical(String(f.data))) return false;
    }
    return true;
  } catch {
    return false; // unreadable: write them
  }
}

/** Roles missing on the server, from globals.sql (before the loads: the dumps name them as owners). */
function rolesStep(o: ItemsIn): Step<RestoreContext> | undefined {
  if (!o.dbs.length) return undefined;
  const globals = o.manifest?.files.find((f) => f.kind === 'globals');
  const file = globals && o.src.kind === 'set' ? path.join(o.src.dir, ...globals.path.split('/')) : o.dumpallGlobals;
  if (!file) return undefined;
  return {
    id: 'restore.db.roles',
    title: 'Create the roles missing on the server from globals.sql (existing roles and all passwords untouched)',
    run: async (ctx) => {
      const created = await createMissingRoles(ctx.conn, fs.readFileSync(file, 'utf8'));
      if (created.length) ctx.outputs.set('roles.created', [...(ctx.outputs.get<string[]>('roles.created') ?? []), ...created]);
      ctx.log(created.length ? `created roles ${created.join(', ')} (without passwords: set them before use)` : 'every role already exists');
    },
  };
}

/** A safety dump of every database that will be replaced. */
function safetySteps(o: ItemsIn): Step<RestoreContext>[] {
  return o.dbs.filter((x) => x.replaces).map((d) => ({
    id: `restore.safety.${d.name}`,
    title: `Safety dump of the current ${d.name} (pg_dump -Fc → zstd, big tables unchanged since the set's capture linked from it; or -Z 1 without zstd; checked with pg_restore --list)`,
    check: async (ctx) => fs.existsSync(safetyDumpPath(ctx.safetyDir, d.name)) || !!ctx.outputs.get(`db.swapped.${d.name}`) || !(await databasesOf(ctx.conn)).has(d.name),
    run: async (ctx) => {
      const base = ctx.src.kind === 'set' ? { id: path.basename(ctx.src.dir), dir: ctx.src.dir, manifest: ctx.src.manifest } : null;
      const r = await safetyDump(ctx.tool, ctx.conn, d.name, ctx.safetyDir, base, (l) => ctx.log(`safety: ${l}`));
      ctx.log(`safety dump of ${d.name}: ${r.file} (${r.entries} entries)`);
    },
  }));
}

/**
 * A database needs no load: swapped in already, or loaded into its new name, which is still the database the load
 * went into (same oid: one dropped by a clean-up and created again empty by a resume is not it).
 */
function loadDone(ctx: RestoreContext, db: string, have: Map<string, { oid: number }>): boolean {
  if (ctx.outputs.get(`db.swapped.${db}`)) return true;
  const loaded = ctx.outputs.get(`db.loaded.${db}`) as { oid?: number } | undefined;
  return !!loaded?.oid && have.get(restoreName(db))?.oid === loaded.oid;
}

/**
 * Before the parallel group: the new names the loads go into, made empty, all on one connection. It runs again on a
 * resume for every database whose load did not finish (that load starts over in an empty database).
 */
function createStep(o: ItemsIn): Step<RestoreContext> | null {
  if (!o.dbs.length) return null;
  const todo = async (ctx: RestoreContext) => {
    const have = await databasesOf(ctx.conn);
    return o.dbs.filter((d) => !loadDone(ctx, d.name, have));
  };
  return {
    id: 'restore.db.create',
    title: `Create the databases to restore into, empty (${o.dbs.map((d) => `createdb -T template0 -E ${d.encoding} -O ${d.owner} "${restoreName(d.name)}"`).join('; ')}); one left by an interrupted attempt is dropped first`,
    check: async (ctx) => (await todo(ctx)).length === 0,
    run: async (ctx) => {
      const dbs = await todo(ctx);
      await createForLoad(ctx.conn, dbs, o.serverMajor);
      ctx.log(`created ${dbs.map((d) => restoreName(d.name)).join(', ')}`);
    },
  };
}

/** Per database: load into "<DB>__qsadmin_restore", the dump's sha256 checked beside it, then its row counts. */
function loadSteps(o: ItemsIn): Step<RestoreContext>[] {
  return o.dbs.map((d) => ({
    id: `restore.db.load.${d.name}`,
    title: `Restore ${d.name} into "${restoreName(d.name)}" (pg_restore)${d.recorded ? `, check the sha256 of its ${d.recorded.length > 1 ? `${d.recorded.length} archives` : 'dump'}` : ''}${d.rowCounts ? ' and compare its row counts with the manifest' : ''}`,
    check: async (ctx) => loadDone(ctx, d.name, await databasesOf(ctx.conn)),
    run: async (ctx) => {
      // The hash reads the dump beside pg_restore (from the page cache) rather than on its stream: the load itself is
      // left as it is. Both are awaited, and a damaged dump is named before whatever pg_restore made of it.
      const src = ctx.src.kind === 'set' ? ctx.src.dir : '';
      const [loaded, hashed] = await Promise.allSettled([
        loadIntoNewName(ctx.tool, ctx.conn, d.dump),
        mapLimit(d.recorded ?? [], 2, async (f) => ({ f, w: await hashFile(path.join(src, ...f.path.split('/'))) })),
      ]);
      if (hashed.status === 'rejected') throw hashed.reason;
      for (const { f, w } of hashed.value) {
        if (w.sha256 !== f.sha256 || w.bytes !== f.bytes) {
          throw new VerificationError(`${f.path} in the backup set is damaged: sha256 ${w.sha256}, the manifest says ${f.sha256}; the current ${d.name} is untouched`, 'use another backup set (qsadmin backup list)');
        }
      }
      if (loaded.status === 'rejected') throw loaded.reason;
      if (d.rowCounts) {
        const diff = compareCounts(d.name, await rowCounts(ctx.conn, loaded.value), d.rowCounts);
        if (diff.length) throw new VerificationError(`the restored ${d.name} does not match the backup; the current ${d.name} is untouched:\n${diff.slice(0, 10).map((x) => `  - ${x}`).join('\n')}`);
      }
      ctx.outputs.set(`db.loaded.${d.name}`, { at: new Date().toISOString(), oid: (await databasesOf(ctx.conn)).get(restoreName(d.name))?.oid });
    },
  }));
}

/** Per swap root: the backup's share files into a staging folder inside it (linked or copied), each file's sha256 checked. */
function stageSteps(o: ItemsIn): Step<RestoreContext>[] {
  if (!o.parts.has('share')) return [];
  return o.roots.map((r, i) => ({
    id: `restore.share.stage.${i}`,
    title: `Stage the share folder${r.roles.length > 1 ? 's' : ''} ${r.roles.join(', ')} in ${r.dest}: live files with the backup's ${o.inputs.checksum ? 'sha256' : 'size and mtime'} linked, the others copied from the set (sha256 checked per file)`,
    node: o.central.name,
    check: async (ctx) => !!ctx.outputs.get(`share.swapped.${i}`) || (!!ctx.outputs.get(`share.staged.${i}`) && isStaged(r, ctx.runId)),
    run: async (ctx) => {
      const s = await stageRoot(r, ctx.runId, o.inputs.parallel ?? 4, linksFile(ctx, i), (b) => ctx.progress(`${b} bytes copied`), { checksum: o.inputs.checksum });
      if (s.noLinks) ctx.log(`${r.dest}: a hard link was refused (${s.noLinks}): the remaining files were copied from the set`);
      ctx.outputs.set(`share.staged.${i}`, { ...s, dest: r.dest });
    },
  }));
}

/** Where a swap root's staging records the live files it linked (read again by the swap). */
const linksFile = (ctx: RestoreContext, i: number) => path.join(ctx.runDir, `share-links-${i}.json`);

/** The critical section, services stopped: every database in one transaction, then each share folder by renames. */
function swapSteps(o: ItemsIn): Step<RestoreContext>[] {
  const steps: Step<RestoreContext>[] = [];
  if (o.dbs.length) {
    const names = o.dbs.map((d) => d.name);
    steps.push({
      id: 'restore.db.swap',
      title: `Swap in the restored databases in one transaction (${o.dbs.map((d) => (d.replaces ? `"${d.name}" → "${oldName(d.name)}", ` : '') + `"${restoreName(d.name)}" → "${d.name}"`).join('; ')}), ending their sessions`,
      destructive: o.dbs.some((d) => d.replaces),
      check: async (ctx) => {
        if (!names.every((n) => !!ctx.outputs.get(`db.swapped.${n}`))) return false;
        const have = await databasesOf(ctx.conn);
        return names.every((n) => have.has(n));
      },
      run: async (ctx) => {
        failPoint('restore.db.swap:before');
        markLive(ctx.outputs, 'db.swap');
        const r = await swapAll(ctx.conn, names);
        ctx.log(Object.entries(r).map(([db, how]) => `${db}: ${how}`).join(', '));
        for (const n of names) ctx.outputs.set(`db.swapped.${n}`, new Date().toISOString());
        // Only an optimisation (see checkpointSoon): a failure is logged, never the step's. The replaced databases go
        // right after it, while the services start: each has a complete safety dump, checked with pg_restore --list
        // (the cleanup step drops whatever is left, e.g. after a resume).
        const dumped = o.dbs.filter((d) => d.replaces && readSafetyRecord(ctx.safetyDir, d.name)).map((d) => oldName(d.name));
        ctx.pending.push(
          checkpointSoon(ctx.conn)
            .catch((e) => ctx.log(`early checkpoint failed: ${errorMessage(e)}`))
            .then(() => dropAll(ctx.conn, dumped, o.serverMajor))
            .then(() => ctx.log(`dropped ${dumped.join(', ') || 'nothing'} (safety dumps kept)`))
            .catch((e) => ctx.log(`early drop of the replaced databases failed (the cleanup drops them): ${errorMessage(e)}`)),
        );
      },
    });
  }
  if (o.parts.has('share')) {
    o.roots.forEach((r, i) => {
      steps.push({
        id: `restore.share.swap.${i}`,
        title: `Swap the staged share files into ${r.dest} by rename (the replaced ones kept beside them until the restore is verified)`,
        node: o.central.name,
        destructive: true,
        check: async (ctx) => !!ctx.outputs.get(`share.swapped.${i}`),
        run: async (ctx) => {
          failPoint('restore.share.swap:before');
          markLive(ctx.outputs, `share.swap.${i}`);
          const moved = await refreshMovedLinks(r, ctx.runId, linksFile(ctx, i));
          if (moved.length) ctx.log(`${r.dest}: ${moved.length} file(s) written after they were checked were copied from the set again: ${moved.slice(0, 10).join(', ')}`);
          const s = swapRoot(r, ctx.runId);
          if (s.extra.length) ctx.log(`${r.dest}: ${s.extra.length} file(s) not in the backup were left in place: ${s.extra.slice(0, 10).join(', ')}`);
          ctx.outputs.set(`share.swapped.${i}`, { entries: s.entries, extra: s.extra.length });
          if (i === o.roots.length - 1) failPoint('restore.share.swap:after');
        },
      });
    });
  }
  return steps;
}

/** Share, after the swap: QSR's folders (--share-root), the guide's copied share (copied over), supporting content. */
function shareSteps(o: ItemsIn): Step<RestoreContext>[] {
  const c = o.central.name;
  const steps: Step<RestoreContext>[] = [];
  if (o.inputs.shareRoot) {
    const want = newShareFolders({ root: '', apps: '', staticContent: '', archivedLogs: '' }, o.inputs.shareRoot);
    steps.push({
      id: 'restore.share.paths',
      title: `Point QSR at the share under ${o.inputs.shareRoot} (SQL on ServiceClusterSettingsSharedPersistenceProperties; not the guide's QlikSenseUtil route)`,
      check: async (ctx) => shareFoldersAre(ctx.conn, want),
      run: async (ctx) => {
        markLive(ctx.outputs, 'share.paths');
        await updateShareFolders(ctx.conn, want);
      },
    });
  }
  if (o.plainShare) {
    steps.push({
      id: 'restore.share.copy',
      title: `Copy the share ${o.plainShare} back to the share root (each file it overwrites moved to ${oldShareName('<run id>')} there first, kept until the restore is verified)`,
      node: c,
      destructive: true,
      check: async (ctx) => !!ctx.outputs.get('share.copy'),
      run: async (ctx) => {
        // Resolved and checked before the services stopped (restore.check.restored), from the QSR being restored.
        const root = ctx.outputs.get<string>(PLAIN_ROOT) ?? o.inputs.shareRoot ?? (await readShareFolders(ctx.conn)).root;
        const local = (await ctx.host(c)).files.resolve(root);
        markLive(ctx.outputs, 'share.copy');
        const n = await copyPlainFolder(o.plainShare!, local, o.inputs.parallel ?? 4, path.join(local, oldShareName(ctx.runId)));
        ctx.outputs.set('share.copy', { root, local, ...n });
      },
    });
  }
  const extras = o.manifest?.files.filter((f) => f.kind === 'extra') ?? [];
  if (extras.length && o.src.kind === 'set') {
    const dir = o.src.dir;
    steps.push({
      id: 'restore.extra',
      title: `Restore the supporting content to its original location (${extras.length} files)`,
      node: c,
      check: async (ctx) => !!ctx.outputs.get('extra'),
      run: async (ctx) => {
        const host = await ctx.host(c);
        markLive(ctx.outputs, 'extra');
        for (const f of extras as ManifestFile[]) {
          // The manifest's paths were checked when the set was read (manifest-check.ts); the write stays in the root.
          const t = extraTarget(f);
          if (!t) throw new VerificationError(`supporting content ${f.path} is refused: its source ${JSON.stringify(f.source)} is not its folder's root joined with its path in the set`);
          const dest = insideOrThrow(host.files.resolve(t.root), t.rel, f.path);
          await keepAside(host, f.source!, path.join(ctx.safetyDir, 'extra'));
          fs.mkdirSync(path.dirname(dest), { recursive: true });
          fs.rmSync(dest, { force: true });
          fs.copyFileSync(path.join(dir, ...f.path.split('/')), dest);
        }
        ctx.outputs.set('extra', extras.length);
      },
    });
  }
  return steps;
}

/** New hostname: Repository.exe -bootstrap -standalone -restorehostname, QSD started at its startup line. */
function hostnameStep(n: NodeConfig, timeoutMs: number): Step<RestoreContext> {
  return {
    id: 'restore.hostname',
    title: 'Run Repository.exe -bootstrap -standalone -restorehostname; start QSD at "Entering main startup phase"; ENTER at "Bootstrap mode has terminated"',
    node: n.name,
    check: async (ctx) => ctx.outputs.get('hostname.restored') === ctx.targetHostname,
    run: async (ctx) => {
      const host = await ctx.host(n.name);
      markLive(ctx.outputs, 'hostname');
      const since = Date.now();
      await runRestoreHostname(host, {
        timeoutMs,
        log: (l) => ctx.log(l),
        onStartup: async () => {
          ctx.progress('starting the Qlik Sense Service Dispatcher');
          await host.services.start('QlikSenseServiceDispatcher', { timeoutMs: ctx.site.emulator ? 60_000 : 120_000 });
        },
      });
      const errors = await repositoryLogErrors(host, since);
      if (errors.length) throw new Error(`the repository log shows errors from the hostname restore: ${errors.slice(0, 3).join(' | ')}`);
      ctx.outputs.set('hostname.restored', ctx.targetHostname);
    },
  };
}

/** ERROR and FATAL lines written to the repository's System log since a moment. */
async function repositoryLogErrors(host: Host, sinceMs: number): Promise<string[]> {
  const dir = path.win32.join(host.paths.logDir, 'Repository', 'System');
  const out: string[] = [];
  if (!(await host.files.exists(dir))) return out;
  for await (const f of host.files.walk(dir)) {
    if (!/\.txt$/i.test(f.path)) continue;
    for (const line of (await host.files.read(f.path)).toString('utf8').split('\n')) {
      const cols = line.split('\t');
      if ((cols[2] === 'ERROR' || cols[2] === 'FATAL') && Date.parse(cols[1]) >= sinceMs - 1000) out.push(cols[8] ?? line);
    }
  }
  return out;
}

/** QRS answers GET /qrs/about over mTLS with the restored client certificate (or the node's PEM copies). */
function verifyQrsStep(n: NodeConfig): Step<RestoreContext> {
  return {
    id: 'restore.verify.qrs',
    title: 'Check that QRS answers GET /qrs/about over mTLS with the restored client certificate',
    node: n.name,
    run: async (ctx) => {
      const host = await ctx.host(n.name);
      let auth: { certPem: string; keyPem: string; caPem: string };
      if (ctx.certSet) {
        const client = ctx.certSet.certs.find((x) => x.role === 'client')!;
        auth = { certPem: client.contents.certPem, keyPem: client.contents.keyPem!, caPem: ctx.certSet.ca.pem };
      } else {
        const pem = async (f: string) => (await host.files.read(path.win32.join(host.paths.localCertificates, f))).toString('utf8');
        auth = { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') };
      }
      const qrs = new QrsClient({ host: n.address, port: QRS_API_PORT + (n.portOffset ?? 0), servername: ctx.targetHostname, auth });
      let last: unknown;
      try {
        for (let i = 0; i < 10; i++) {
          try {
            const about = await qrs.about();
            ctx.log(`QRS ${qrs.where} answered /qrs/about (build ${about.buildVersion}) to the restored client certificate`);
            ctx.outputs.set('qrs.about', { buildVersion: about.buildVersion });
            return;
          } catch (e) {
            last = e;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      } finally {
        qrs.close();
      }
      throw new VerificationError(`QRS on ${n.name} did not answer /qrs/about with the restored client certificate: ${errorMessage(last)}`, `see ${host.paths.logDir}\\Repository\\System`);
    },
  };
}

