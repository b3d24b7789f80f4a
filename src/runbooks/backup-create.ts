// `qsadmin backup create`: the guide's §5 backup, with the services down only while the state is captured.
//
// The procedure, as the plan shows it:
//   preflight → stop Qlik services except the database (rims first, then central) → capture: one exported snapshot
//   per database, a snapshot of the share → start services (central first, then rims) and wait for servicestate 2 →
//   with services running again: dump every database from its snapshot, copy the share from its snapshot (unchanged
//   files hard-linked from the last verified set), supporting content, local logs, Custom Data, config files and the
//   certificate set per node → check every dump with pg_restore --list → write manifest.json last.
//
// Resume: dumps and the share copy belong to one capture. If the process dies before they are all written, the
// exported snapshots die with it; the resumed run captures again (a second short downtime) and redoes the dumps, so
// that every database and the share come from the same moment.
import { checkedBuild, requireElevated, requireStores } from './operator-checks.js';
import { joinLike } from '../host/paths.js';
import { qlikStores } from '../certs/export.js';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Runbook, Step, StepContext, RunbookItem } from '../runbook/step.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import { writeFileAtomic } from '../runbook/fsutil.js';
import { loadSiteConfig } from '../site/config.js';
import { databaseBinHint, databasePassword, superuserConn, type DbConn } from '../site/database.js';
import { centralNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, serviceFact } from '../site/services.js';
import type { PgToolContext } from '../postgres/tools.js';
import { readSecret } from '../cli/secrets.js';
import { discoverForBackup, type Discovery } from '../backup/discover.js';
import { defaultCompression, type Compression } from '../backup/compress.js';
import { openSessions, releaseSnapshots, takeSnapshots, type DbSnapshot } from '../backup/db-capture.js';
import { dumpArchiveSet } from '../backup/db-archives.js';
import { DEFAULT_SPLIT_MIN_BYTES, type DbStamp } from '../backup/db-tables.js';
import { copyTree, indexBase, listTree, unchangedSince, withBaseStrings, type BaseIndex, type ListedFile } from '../backup/tree.js';
import { SNAPSHOT_MARKER } from '../backup/share-snapshot.js';
import type { Host, ShareCapturePlan } from '../host/types.js';
import { IN_PROGRESS, FORMAT, MANIFEST, VERIFIED, readManifest, readVerified, totals, writeManifest, writeVerified, type Manifest, type ManifestFile } from '../backup/manifest.js';
import { manifestPathProblems } from '../backup/manifest-check.js';
import { PARTS_DIR, hasPart, readAllParts, readPart, removeParts, writePart } from '../backup/parts.js';
import { removeTempFiles, syncSetFiles, type SetScan } from '../backup/set-files.js';
import { packSetTar } from '../backup/set-tar.js';
import { layoutProblems } from '../backup/verify.js';
import { incrementalBase, newBackupId } from '../backup/sets.js';
import { hashFile } from '../backup/hashcopy.js';
import { reapStaleTemp } from '../backup/reap.js';
import { checkTargetReadOnly, prepareTarget } from '../backup/target-probe.js';
import { hostPool, killGuardServices, mapSteps, serviceItems, siteLockKey, startNodeOrder, stopNodeOrder, waitRepositoryStep, type HostsContext } from './service-steps.js';
import type { BuildEnv } from './registry.js';
import { mkdirPrivateSync, openPrivateSync, writePrivateSync } from '../host/private-files.js';
import { joinRel } from '../backup/safe-path.js';

export const DEFAULT_CERT_PASSWORD_ENV = 'QSADMIN_CERT_PASSWORD';

export interface BackupInputs {
  sitePath: string;
  /** Target folder that holds the sets. */
  to: string;
  /** Fixed when the run is planned, so a resumed run writes the same set. */
  backupId: string;
  singleFile?: boolean;
  compress?: Compression;
  parallel?: number;
  skipShare?: boolean;
  noLogs?: boolean;
  extraPaths?: string[];
  certPasswordEnv?: string;
  stopTimeoutMs?: number;
  endStuck?: boolean;
  startTimeoutMs?: number;
  toolVersion?: string;
  /** Tables at least this big get their own data archive, reused while unchanged (default 8 MiB). */
  tableArchiveMinBytes?: number;
  /** Format 2 repositories: `to` is then their staging folder, and the set is uploaded to each last (src/backup/repo/target.ts). */
  repositories?: import('../backup/repo/target.js').RepositoryTarget[];
  /** One repository, as plans written before --to-all name it. */
  repository?: import('../backup/repo/target.js').RepositoryTarget;
}

interface Live {
  captureId?: string;
  snaps: DbSnapshot[];
  /** Sessions opened before the downtime, waiting for their snapshot. */
  sessions: DbSnapshot[];
}

export interface BackupContext extends HostsContext {
  in: Required<Pick<BackupInputs, 'to' | 'backupId' | 'parallel'>> & BackupInputs;
  compress: Compression;
  setDir: string;
  conn: DbConn;
  tool: PgToolContext;
  certPassword: string;
  discovery: Discovery;
  /** How each share folder is captured, as the central node's host chose it. */
  sharePlans: ShareCapturePlan[];
  /** The host of the node qsadmin captures the share from (central). */
  shareHost: () => Promise<Host>;
  base: BaseIndex | null;
  baseId: string | null;
  /** The base set's manifest and folder, for reusing table archives. */
  baseSet: { dir: string; manifest: Manifest } | null;
  live: Live;
}

const CAPTURE_ID = 'capture.id';

function currentCapture(ctx: BackupContext): string | undefined {
  return ctx.outputs.get<string>(CAPTURE_ID);
}

function dumpedDatabases(ctx: Pick<BackupContext, 'discovery'>) {
  return ctx.discovery.databases.filter((d) => d.dump);
}

/** Every dump of the current capture is on disk. */
function dumpsDone(ctx: BackupContext): boolean {
  const id = currentCapture(ctx);
  return !!id && dumpedDatabases(ctx).every((d) => hasPart(ctx.setDir, `db.${d.name}`, id));
}

/** The share of the current capture is copied, or its snapshot is still complete on disk. */
async function shareReady(ctx: BackupContext, i: number): Promise<boolean> {
  const id = currentCapture(ctx);
  if (!id) return false;
  if (hasPart(ctx.setDir, `share.${i}`, id)) return true;
  if (ctx.sharePlans[i].mode === 'copy-while-down') return false;
  const view = await (await ctx.shareHost()).shares.find(ctx.discovery.share[i].path, ctx.runId, id);
  return view?.baseId === ctx.baseId;
}

/** The captured state can still be written: its sessions are open in this process, or everything that needs them is done. */
async function captureUsable(ctx: BackupContext): Promise<boolean> {
  const id = currentCapture(ctx);
  if (id && ctx.live.captureId === id) return true;
  if (!dumpsDone(ctx)) return false;
  if (ctx.in.skipShare) return true;
  for (let i = 0; i < ctx.discovery.share.length; i++) if (!(await shareReady(ctx, i))) return false;
  return true;
}

function splitMinBytes(ctx: BackupContext): number {
  return ctx.in.tableArchiveMinBytes ?? DEFAULT_SPLIT_MIN_BYTES;
}

/** Where a share folder goes in the set. */
function storedShare(entry: { role: string; outsideRoot: boolean }): string {
  return entry.outsideRoot ? `files/share-outside/${entry.role}` : 'files/share';
}

/** Build the backup runbook; reads the site (database, QSR share folders) but changes nothing. */
export async function buildBackupCreate(inputs: BackupInputs, env?: BuildEnv): Promise<Runbook<BackupContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const password = await databasePassword(site, env?.interactive);
  const certPasswordEnv = inputs.certPasswordEnv ?? DEFAULT_CERT_PASSWORD_ENV;
  const certPassword = await readSecret({ label: 'password for the exported certificate PFX files', env: certPasswordEnv, flag: '--cert-password-env', runTimeOnly: true }, env?.interactive);
  if (certPassword.length < 8) throw new InputError(`the certificate password in ${certPasswordEnv} is shorter than 8 characters`, 'use a longer password: it protects the private keys of the site');
  const conn = superuserConn(site, password);
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  let discovery!: Discovery;
  await checkedBuild(pool, async () => {
    discovery = await discoverForBackup(site, conn, await databaseBinHint(site, () => pool.host(site.database.node!)));
  });
  const compress = inputs.compress ?? defaultCompression();
  const to = path.resolve(inputs.to);
  // Plans written before --to-all name one repository.
  const repositories = inputs.repositories ?? (inputs.repository ? [inputs.repository] : []);
  const repoNotes: string[] = [];
  for (const r of repositories) repoNotes.push((await (await import('../backup/repo/target.js')).checkRepository(r, env?.dryRun, repositories.length > 1)).note);
  await checkTargetReadOnly(to);
  const setDir = path.join(to, inputs.backupId);
  for (const f of discovery.share) {
    if (isUnder(f.path, to)) throw new InputError(`the backup target ${to} is inside the share folder ${f.path}`, 'choose a target outside the share: a backup must not back itself up');
  }
  const baseFound = inputs.singleFile ? null : incrementalBase(to, inputs.backupId);
  const base = baseFound ? indexBase(baseFound.dir, baseFound.manifest.files) : null;
  const tool: PgToolContext = { binDir: discovery.client.dir, password };
  const shareHost = () => pool.host(centralNode(site).name);
  const parallel = inputs.parallel ?? 4;
  // The driver picks the capture (hard links, a shadow copy, or a copy while down); the plan names its choice.
  let sharePlans: ShareCapturePlan[] = [];
  await checkedBuild(pool, async () => {
    if (!inputs.skipShare) sharePlans = await Promise.all(discovery.share.map(async (f) => (await shareHost()).shares.plan(f.path)));
    await requireElevated(pool.host, site.nodes, 'qsadmin backup create');
    await requireStores(pool.host, site.nodes, qlikStores(site.serviceAccount), 'qsadmin backup create');
  });
  const shareModes = sharePlans.map((p) => p.mode);

  const notes = [
    ...repoNotes,
    `target ${setDir}${inputs.singleFile ? ' (packed into one .tar at the end)' : ''}`,
    `database ${site.database.host}:${site.database.port} (${site.database.service ?? 'dedicated server'}), PostgreSQL ${discovery.server.version}; client tools ${discovery.client.version} in ${discovery.client.dir}`,
    `databases dumped: ${dumpedDatabases({ discovery }).map((d) => `${d.name} (owner ${d.owner})`).join(', ')}` +
      (discovery.databases.some((d) => !d.dump) ? `; not dumped: ${discovery.databases.filter((d) => !d.dump).map((d) => d.name).join(', ')}` : ''),
    'database capture: one exported snapshot (REPEATABLE READ) per database while services are stopped; dumps run after the restart',
    ...(inputs.skipShare
      ? ['share: skipped (--skip-share)']
      : discovery.share.map((f, i) => `share ${f.role} ${f.path}${f.outsideRoot ? ' (outside the share root)' : ''}: ${describeMode(sharePlans[i])}`)),
    base ? `incremental: unchanged files are hard-linked from verified set ${baseFound!.id}` : 'full: no earlier verified set in the target to link unchanged files from',
    `dump compression: ${compress}; share files are stored as they are`,
    ...(site.alerting ? [`Qlik Alerting on node ${site.alerting.node}: mongodump --db=qlikalerting --out=<set>/alerting/dump while it runs (the seed's way; no downtime), default.json and config\\certificates`] : []),
    'stop order rims first, then central; start order central first, then rims: inferred from the guide\'s QPI procedure (§2.6), §5 does not state it',
    'the central Service Dispatcher starts while the share is captured: it does not write to the share, and the services that would make it (migration) need QRS, which starts after the capture (an inference, not the guide\'s wording)',
  ];

  const nodes = site.nodes;
  const items: RunbookItem<BackupContext>[] = [];

  items.push({
    id: 'backup.preflight',
    title: 'Preflight: target writable, enough free space, services and client tools checked',
    check: async () => false, // always re-checked, also on resume
    run: async (ctx) => preflight(ctx, site),
  });

  items.push({
    id: 'backup.capture.connect',
    title: 'Open one database session per database (before the services stop: connecting is the slow part)',
    check: async (ctx) => captureUsable(ctx),
    run: async (ctx) => {
      await releaseSnapshots(ctx.live.sessions);
      ctx.live.sessions = await openSessions(ctx.conn, dumpedDatabases(ctx).map((d) => d.name), splitMinBytes(ctx));
    },
  });
  items.push({
    id: 'backup.downtime.begin',
    title: 'Note the start of the service downtime',
    check: async (ctx) => captureUsable(ctx),
    run: async (ctx) => ctx.outputs.set('downtime.from', new Date().toISOString()),
  });
  for (const n of stopNodeOrder(site)) {
    const steps = serviceItems<BackupContext>(n, 'stop', { timeoutMs: inputs.stopTimeoutMs, idPrefix: 'backup.stop', endStuck: inputs.endStuck });
    items.push(...mapSteps(steps, (s) => ({ ...s, check: async (ctx) => (await captureUsable(ctx)) || (await s.check!(ctx)) })));
  }
  items.push({
    id: 'backup.capture.databases',
    title: 'Capture the databases: one REPEATABLE READ session per database exports its snapshot',
    check: async (ctx) => captureUsable(ctx),
    run: async (ctx) => {
      await releaseSnapshots(ctx.live.snaps);
      const dbs = dumpedDatabases(ctx).map((d) => d.name);
      const ready = ctx.live.sessions.length === dbs.length ? ctx.live.sessions : await openSessions(ctx.conn, dbs, splitMinBytes(ctx));
      ctx.live.sessions = [];
      ctx.live.snaps = await takeSnapshots(ready, ctx.discovery.client.major);
      const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
      ctx.live.captureId = id;
      ctx.outputs.set(CAPTURE_ID, id);
      ctx.log(`exported snapshots: ${ctx.live.snaps.map((s) => `${s.db}=${s.snapshot}`).join(', ')}`);
    },
  });
  const shareCapture: Step<BackupContext>[] = [];
  if (!inputs.skipShare) {
    discovery.share.forEach((f, i) => {
      shareCapture.push({
        id: `backup.capture.share.${i}`,
        title: shareModes[i] === 'hardlink' ? `Snapshot the share folder ${f.path} (hard links)` : shareModes[i] === 'vss' ? `Take a Volume Shadow Copy of the share folder ${f.path}` : `Copy the share folder ${f.path} while services are down`,
        check: async (ctx) => shareReady(ctx, i),
        run: async (ctx) => {
          const id = currentCapture(ctx)!;
          const h = await ctx.shareHost();
          if (shareModes[i] !== 'copy-while-down') {
            const stored = storedShare(f);
            const view = await h.shares.take(f.path, {
              runId: ctx.runId,
              captureId: id,
              baseId: ctx.baseId,
              unchanged: (x) => unchangedSince(ctx.base?.byPath.get(`${stored}/${x.rel}`), x),
            });
            // Recorded at once: whatever happens next, the run's outputs name the shadow copy to delete.
            if (view.shadowId) ctx.outputs.set(`share.${i}.shadow`, view.shadowId);
            ctx.log(`share view of ${f.path}: ${view.summary}`);
          } else {
            await copySharePart(ctx, i, h.files.resolve(f.path));
          }
        },
      });
    });
  }
  startNodeOrder(site).forEach((n, k) => {
    const steps = serviceItems<BackupContext>(n, 'start', { timeoutMs: inputs.startTimeoutMs, idPrefix: 'backup.start', always: true });
    // Start only what was running before the backup: the site is left as it was found.
    const starts = mapSteps(steps, (s) => ({ ...s, check: async (ctx) => (await s.check!(ctx)) || !wasRunning(ctx, s.id) }));
    const first = starts[0];
    if (k === 0 && shareCapture.length && first && !('group' in first) && first.id.endsWith('.QSD')) {
      // The Service Dispatcher does not write to the share: it starts while the share is captured (it goes first, so
      // that its process boots while the snapshot is linked).
      items.push({ group: 'backup.capture.share', title: 'Capture the share while the Service Dispatcher starts', parallel: true, steps: [first, ...shareCapture] });
      starts.shift();
    } else if (k === 0) items.push(...shareCapture);
    items.push(...starts);
    if ((n.services ?? ALL_QLIK_SERVICES).includes('QlikSenseRepositoryService')) {
      const w = waitRepositoryStep<BackupContext>(n, { timeoutMs: inputs.startTimeoutMs, idPrefix: 'backup.start', always: true });
      const own = w.check!;
      items.push({ ...w, check: async (ctx) => (await own(ctx)) || !wasRunning(ctx, `backup.start.${n.name}.QRS`) });
    }
  });
  items.push({
    id: 'backup.downtime.end',
    title: 'Note the end of the service downtime',
    check: async (ctx) => ctx.outputs.get('downtime.capture') === currentCapture(ctx),
    run: async (ctx) => {
      ctx.outputs.set('downtime.to', new Date().toISOString());
      ctx.outputs.set('downtime.capture', currentCapture(ctx));
    },
  });

  // Everything below reads from the captured state or from files that do not need the services stopped: it all runs
  // at once (the dumps are CPU-bound in PostgreSQL and zstd, the copies are I/O-bound in the kernel).
  const write: Step<BackupContext>[] = [];
  write.push({
    id: 'backup.config',
    title: 'Copy the configuration files of every node (Host.cfg, *.exe.config, services.conf, Settings.ini, postgresql.conf, pg_hba.conf)',
    check: async (ctx) => nodes.every((n) => hasPart(ctx.setDir, `config.${n.name}`)),
    run: async (ctx) => {
      for (const n of nodes) await copyConfig(ctx, site, n);
    },
  });
  write.push(
    ...dumpedDatabases({ discovery }).map(
      (d): Step<BackupContext> => ({
        id: `backup.db.dump.${d.name}`,
        title: `Dump ${d.name} (pg_dump -Fc → ${compress} → sha256, then pg_restore --list) and count its rows in the same snapshot`,
        check: async (ctx) => hasPart(ctx.setDir, `db.${d.name}`, currentCapture(ctx)),
        run: async (ctx) => dumpOne(ctx, d.name),
      }),
    ),
    {
      id: 'backup.db.globals',
      title: 'Dump roles and tablespaces (pg_dumpall --globals-only --no-role-passwords)',
      check: async (ctx) => hasPart(ctx.setDir, 'db.globals'),
      run: async (ctx) => dumpGlobals(ctx),
    },
  );
  if (!inputs.skipShare) {
    discovery.share.forEach((f, i) => {
      if (shareModes[i] === 'copy-while-down') return;
      write.push({
        id: `backup.share.copy.${i}`,
        title: `Copy the share folder ${f.path} from its ${shareModes[i] === 'vss' ? 'shadow copy' : 'snapshot'}, then release it${base ? ' (unchanged files linked from the base set)' : ''}`,
        check: async (ctx) => hasPart(ctx.setDir, `share.${i}`, currentCapture(ctx)),
        run: async (ctx) => copyFromSnapshot(ctx, i),
      });
    });
  }
  (inputs.extraPaths ?? []).forEach((p, i) => {
    write.push({
      id: `backup.extra.${i}`,
      title: `Copy supporting content ${p}`,
      check: async (ctx) => hasPart(ctx.setDir, `extra.${i}`),
      run: async (ctx) => {
        const local = (await ctx.host(centralNode(site).name)).files.resolve(p);
        if (!fs.existsSync(local)) throw new InputError(`--extra-path ${p} does not exist`);
        const r = await copyTree({ dir: local, source: p, stored: `files/extra/${i}-${path.basename(local)}`, kind: 'extra' }, ctx.setDir, { base: ctx.base ?? undefined, parallel: ctx.in.parallel });
        writePart(ctx.setDir, `extra.${i}`, { files: r.files });
      },
    });
  });
  for (const n of nodes) {
    if (!inputs.noLogs) {
      write.push({
        id: `backup.node.${n.name}.logs`,
        title: 'Copy the local logs (%ProgramData%\\Qlik\\Sense\\Log)',
        node: n.name,
        check: async (ctx) => hasPart(ctx.setDir, `logs.${n.name}`),
        run: async (ctx) => copyNodeTree(ctx, n, 'logs', (h) => h.paths.logDir, 'log'),
      });
    }
    write.push({
      id: `backup.node.${n.name}.custom-data`,
      title: 'Copy Custom Data (%ProgramFiles%\\Common Files\\Qlik\\Custom Data: connectors, local to each node)',
      node: n.name,
      check: async (ctx) => hasPart(ctx.setDir, `custom-data.${n.name}`),
      run: async (ctx) => copyNodeTree(ctx, n, 'custom-data', (h) => h.paths.customData, 'custom-data'),
    });
    write.push({
      id: `backup.node.${n.name}.certs`,
      title: 'Export the certificate set from the stores as password-protected PFX (as the service account)',
      node: n.name,
      check: async (ctx) => hasPart(ctx.setDir, `certs.${n.name}`),
      run: async (ctx) => exportCerts(ctx, n),
    });
  }
  // Qlik Alerting beside the site (src/alerting/backup.ts): its own database and files, while everything runs.
  if (site.alerting) write.push(alertingBackupStep(site.alerting.node));
  items.push({ group: 'backup.write', title: 'Write the set with services running: dumps from the snapshots, the share, logs, Custom Data, configs, certificates', parallel: true, steps: write });
  // A complete set is immutable: once its manifest exists, every step that writes into it counts as done (a resume
  // never stops the services or rewrites a file again), and would refuse if run anyway.
  const guarded = mapSteps(items.splice(1), (s) => ({
    ...s,
    check: async (ctx) => setComplete(ctx) || (s.check ? await s.check(ctx) : false),
    run: async (ctx) => {
      assertSetOpen(ctx.setDir, s.id);
      await s.run(ctx);
    },
  }));
  items.push(...guarded);
  items.push({
    id: 'backup.manifest',
    title: 'Write manifest.json (last: a set without it is incomplete), after every file of the set is fsync\'d; check the set against it',
    check: async (ctx) => setComplete(ctx) && !fs.existsSync(path.join(ctx.setDir, PARTS_DIR)) && !!readVerified(ctx.setDir),
    run: async (ctx) => writeSetManifest(ctx, site),
  });
  items.push({
    id: 'backup.release',
    title: 'Release the database snapshots and any share view left (the live share is untouched)',
    run: async (ctx) => {
      await releaseSnapshots(ctx.live.snaps);
      ctx.live.snaps = [];
      await releaseShareViews(ctx);
    },
  });
  if (inputs.singleFile) {
    items.push({
      id: 'backup.pack',
      title: `Pack the set into ${inputs.backupId}.tar`,
      check: async (ctx) => fs.existsSync(path.join(ctx.in.to, `${ctx.in.backupId}.tar`)) && !fs.existsSync(ctx.setDir),
      run: async (ctx) => packSet(ctx),
    });
  }
  if (repositories.length) items.push(...(await import('../backup/repo/target.js')).uploadItems<BackupContext>(repositories));

  return {
    name: 'backup.create',
    site: path.resolve(inputs.sitePath),
    lockKey: siteLockKey(site),
    inputs: { ...inputs, to, compress, parallel },
    secrets: [password, certPassword, ...repositories.map((r) => process.env[r.passphraseEnv])],
    notes,
    items,
    // nothing a backup does changes the site: killed while services are down, they can start on the site as it is
    killGuard: { sitePath: inputs.sitePath, services: killGuardServices(site, 'backup.stop', 'backup.start') },
    context: (b: StepContext): BackupContext => ({
      ...b,
      site,
      host: pool.host,
      in: { ...inputs, to, parallel },
      compress,
      setDir,
      conn,
      tool,
      certPassword,
      discovery,
      sharePlans,
      shareHost,
      base,
      baseId: baseFound?.id ?? null,
      baseSet: baseFound ? { dir: baseFound.dir, manifest: baseFound.manifest } : null,
      live: { snaps: [], sessions: [] },
    }),
    dispose: async (ctx) => {
      await releaseSnapshots([...ctx.live.snaps, ...ctx.live.sessions]);
      // The undo of a run that stopped: a shadow copy is a system resource and goes (a resume captures again); a
      // hard-link view costs only links and stays for the resume.
      if (sharePlans.some((p) => p.mode === 'vss')) await releaseShareViews(ctx, 'vss').catch((e) => ctx.log(`warning: ${(e as Error).message}`));
      await pool.closeAll();
    },
    close: () => pool.closeAll(),
  };
}

/** The Alerting part: mongodump the seed's way, default.json and the certificates into alerting/. */
function alertingBackupStep(node: string): Step<BackupContext> {
  return {
    id: 'backup.alerting',
    title: 'Back up Qlik Alerting: mongodump --db=qlikalerting --out=<set>/alerting/dump (password via --config), default.json, config\\certificates',
    node,
    check: async (ctx) => hasPart(ctx.setDir, 'alerting'),
    run: async (ctx) => {
      const { backupAlerting } = await import('../alerting/backup.js');
      writePart(ctx.setDir, 'alerting', { files: await backupAlerting(ctx, ctx.site, await ctx.host(node)) });
    },
  };
}

/** Drop this run's share views (of one mode, or all). */
async function releaseShareViews(ctx: BackupContext, only?: ShareCapturePlan['mode']): Promise<void> {
  const h = await ctx.shareHost();
  for (const [i, f] of ctx.discovery.share.entries()) {
    if (ctx.sharePlans[i] && (!only || ctx.sharePlans[i].mode === only)) await h.shares.release(f.path, ctx.runId);
  }
}

function describeMode(p: ShareCapturePlan): string {
  if (p.mode === 'hardlink') return `hard-link snapshot while services are down, copied after the restart (${p.reason})`;
  if (p.mode === 'vss') return `${p.reason} while services are down, copied after the restart`;
  return `copied while services are down (no snapshot possible: ${p.reason})`;
}

function isUnder(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Did this service run when the backup started? (unknown = yes: starting a service is the safe side). */
function wasRunning(ctx: BackupContext, stepId: string): boolean {
  const before = ctx.outputs.get<Record<string, boolean>>('services.before');
  const key = stepId.replace(/^backup\.start\./, '');
  return before?.[key] ?? true;
}

/** Preflight: target writable and big enough, the set folder started; record which services run. */
async function preflight(ctx: BackupContext, site: SiteConfig): Promise<void> {
  const { freeBytes: free } = await prepareTarget(ctx.in.to);
  const reaped = await reapStaleTemp();
  if (reaped.length) ctx.log(`removed temp folders of killed runs: ${reaped.join(', ')}`);
  // Share views that killed runs left (hard-link trees, shadow copies): this run holds the site lock, so no other
  // run of the site is using them; a resume of such a run captures the site again.
  if (!ctx.in.skipShare) {
    const h = await ctx.shareHost();
    for (const f of ctx.discovery.share) {
      const gone = await h.shares.reap(f.path, ctx.runId);
      if (gone.length) ctx.log(`removed share views of killed runs: ${gone.join(', ')}`);
    }
  }
  if (setComplete(ctx)) {
    if (!ctx.outputs.get('preflight')) throw new InputError(`backup set ${ctx.setDir} already exists`, 'it is complete: nothing to do');
    ctx.log(`preflight: ${ctx.setDir} is complete (it has its manifest): nothing is written into it again`);
    return;
  }
  // Estimate: the dumps (see dumpEstimate) + share bytes that cannot be linked from the base set.
  let estimate = await dumpEstimate(ctx);
  if (!ctx.in.skipShare) {
    for (const f of ctx.discovery.share) {
      const stored = storedShare(f);
      for (const x of listTree((await ctx.shareHost()).files.resolve(f.path))) {
        const prev = ctx.base?.byPath.get(`${stored}/${x.rel}`);
        if (!unchangedSince(prev, x)) estimate += x.size;
      }
    }
  }
  if (free < estimate * 1.1) {
    throw new InputError(
      `not enough free space at ${ctx.in.to}: about ${fmtBytes(estimate)} needed (+10 %), ${fmtBytes(free)} free`,
      'free space there or choose another --to',
    );
  }
  mkdirPrivateSync(ctx.setDir);
  if (!fs.existsSync(path.join(ctx.setDir, IN_PROGRESS))) {
    writeFileAtomic(path.join(ctx.setDir, IN_PROGRESS), JSON.stringify({ id: ctx.in.backupId, runId: ctx.runId, created: new Date().toISOString(), base: ctx.baseId }) + '\n', 0o600);
  }
  if (!ctx.outputs.get('services.before')) {
    const before: Record<string, boolean> = {};
    for (const n of site.nodes) {
      const h = await ctx.host(n.name);
      for (const s of await h.services.list()) {
        const abbr = serviceFact(s.name)?.abbr;
        if (abbr) before[`${n.name}.${abbr}`] = s.state === 'running';
      }
    }
    ctx.outputs.set('services.before', before);
  }
  ctx.outputs.set('preflight', { estimateBytes: estimate, freeBytes: free, created: ctx.outputs.get<{ created: string }>('preflight')?.created ?? new Date().toISOString() });
  ctx.log(`preflight: estimate ${fmtBytes(estimate)}, free ${fmtBytes(free)}`);
}

/**
 * What the dumps will take: a database's dumps in the base set scaled by how its size changed since, or else its size
 * less that of an empty database (template0: the catalog every database carries, which a dump does not hold). Both
 * are upper bounds in practice (compression and indexes make dumps smaller), near the real size after the first set.
 */
async function dumpEstimate(ctx: BackupContext): Promise<number> {
  const { withClient } = await import('../postgres/client.js');
  const empty = await withClient({ ...ctx.conn, database: 'postgres' }, async (c) => Number((await c.query("SELECT pg_database_size('template0') AS n")).rows[0].n)).catch(() => 0);
  let total = 0;
  for (const d of dumpedDatabases(ctx)) {
    const was = ctx.baseSet?.manifest.databases.find((x) => x.name === d.name && x.dumped);
    const baseBytes = ctx.baseSet?.manifest.files.filter((f) => f.kind === 'db' && f.database === d.name).reduce((a, f) => a + f.bytes, 0) ?? 0;
    if (was && was.sizeBytes > 0 && baseBytes > 0) total += Math.ceil(baseBytes * Math.max(1, d.sizeBytes / was.sizeBytes));
    else total += Math.max(d.sizeBytes - empty, 0) + (1 << 16);
  }
  return total;
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/** Dump one database from its exported snapshot into db/ (see db-archives.ts), then record it as a part of the set. */
async function dumpOne(ctx: BackupContext, db: string): Promise<void> {
  const id = currentCapture(ctx);
  const snap = ctx.live.captureId === id ? ctx.live.snaps.find((s) => s.db === db) : undefined;
  if (!snap?.state) throw new Error(`the snapshot of ${db} is gone (the run was interrupted): resume the run; it captures the site again`);
  const r = await dumpArchiveSet({
    tool: ctx.tool,
    target: { host: ctx.conn.host, port: ctx.conn.port, user: ctx.conn.user },
    snap,
    dir: ctx.setDir,
    prefix: 'db',
    compress: ctx.compress,
    parallel: ctx.in.parallel,
    base: ctx.baseSet && ctx.baseId ? { id: ctx.baseId, ...ctx.baseSet } : null,
    log: (l) => ctx.log(l),
  });
  // Every dump has imported the snapshot and finished: the exporting session is no longer needed.
  await releaseSnapshots([snap]);
  ctx.live.snaps = ctx.live.snaps.filter((s) => s !== snap);
  writePart(ctx.setDir, `db.${db}`, { captureId: id, files: r.files, extra: { rowCounts: r.rowCounts, stamp: snap.state.stamp } });
}

/** Roles and tablespaces without passwords (restore creates missing roles; it never touches passwords). */
async function dumpGlobals(ctx: BackupContext): Promise<void> {
  const { pgDumpall } = await import('../postgres/tools.js');
  const dir = path.join(ctx.setDir, 'db');
  mkdirPrivateSync(dir);
  const file = path.join(dir, 'globals.sql');
  // pg_dumpall opens its --file with O_TRUNC: created 0600 here first, it keeps that mode (never 0666 minus the umask).
  fs.closeSync(openPrivateSync(file));
  await pgDumpall(ctx.tool, { host: ctx.conn.host, port: ctx.conn.port, user: ctx.conn.user, file, globalsOnly: true, noRolePasswords: true });
  fs.chmodSync(file, 0o400);
  const w = await hashFile(file);
  writePart(ctx.setDir, 'db.globals', { files: [{ path: 'db/globals.sql', bytes: w.bytes, sha256: w.sha256, kind: 'globals' }] });
}

/** Copy a share folder from its hard-link snapshot, using the listing made at capture time. */
async function copyFromSnapshot(ctx: BackupContext, i: number): Promise<void> {
  const f = ctx.discovery.share[i];
  const h = await ctx.shareHost();
  const view = await h.shares.find(f.path, ctx.runId, currentCapture(ctx)!);
  if (!view) throw new Error(`the snapshot of ${f.path} is gone: resume the run; it captures the site again`);
  await copySharePart(ctx, i, view.dir, view.listing);
  // Copied and recorded: the view is not needed again (a shadow copy is deleted here, the step after the copy).
  await h.shares.release(f.path, ctx.runId);
  if (view.shadowId) ctx.log(`deleted shadow copy ${view.shadowId}`);
}

/** Copy one share folder (from its snapshot or live while services are down) into the set. */
async function copySharePart(ctx: BackupContext, i: number, fromDir: string, list?: ListedFile[]): Promise<void> {
  const f = ctx.discovery.share[i];
  let done = 0;
  const r = await copyTree(
    { dir: fromDir, source: f.path, stored: storedShare(f), kind: f.outsideRoot ? 'share-outside' : 'share', exclude: (rel) => rel === SNAPSHOT_MARKER },
    ctx.setDir,
    { base: ctx.base ?? undefined, parallel: ctx.in.parallel, list, onFile: (b) => ((done += b), ctx.progress(`${fmtBytes(done)} copied`)) },
  );
  if (r.stats.changedDuringCopy.length) ctx.log(`warning: ${r.stats.changedDuringCopy.length} files changed while copied: ${r.stats.changedDuringCopy.slice(0, 5).join(', ')}`);
  writePart(ctx.setDir, `share.${i}`, { captureId: currentCapture(ctx), files: r.files, extra: { ...r.stats } });
  ctx.log(`share ${f.path}: ${r.stats.files} files, ${fmtBytes(r.stats.bytes)}; ${r.stats.reusedFiles} unchanged files linked (${fmtBytes(r.stats.reusedBytes)})`);
}

/** A per-node folder (logs, Custom Data) into files/nodes/<node>/<what>. */
async function copyNodeTree(ctx: BackupContext, n: NodeConfig, what: string, pick: (h: import('../host/types.js').Host) => string, kind: 'log' | 'custom-data'): Promise<void> {
  const h = await ctx.host(n.name);
  const win = pick(h);
  const r = await copyTree({ dir: h.files.resolve(win), source: win, stored: `files/nodes/${n.name}/${what}`, kind, node: n.name }, ctx.setDir, {
    base: ctx.base ?? undefined,
    parallel: ctx.in.parallel,
  });
  writePart(ctx.setDir, `${what}.${n.name}`, { files: r.files });
}

/** The node's configuration files, kept for reference and an opt-in same-host restore. */
async function copyConfig(ctx: BackupContext, site: SiteConfig, n: NodeConfig): Promise<void> {
  const h = await ctx.host(n.name);
  const { copyFileHashed, linkIfSameHash } = await import('../backup/hashcopy.js');
  const sources = [h.paths.hostCfg, ...h.paths.configFiles];
  const files: ManifestFile[] = [];
  const local = (p: string) => h.files.resolve(p);
  const add = async (win: string, localPath: string) => {
    if (!fs.existsSync(localPath)) return;
    const name = path.win32.basename(win);
    const stored = `config/${n.name}/${name}`;
    const linked = await linkIfSameHash(localPath, ctx.base?.byPath.get(stored), ctx.base?.dir, joinRel(ctx.setDir, stored));
    const w = linked ?? (await copyFileHashed(localPath, joinRel(ctx.setDir, stored)));
    files.push({ path: stored, bytes: w.bytes, sha256: w.sha256, kind: 'config', source: win, node: n.name, ...(linked ? { reused: true } : {}) });
  };
  for (const s of sources) await add(s, local(s));
  // The database's own configuration, where this node runs its service (the data folder from the service's command line).
  const db = await h.database();
  if (db?.dataDir) {
    for (const f of ['postgresql.conf', 'pg_hba.conf']) await add(joinLike(db.dataDirWindows ?? db.dataDir, f), path.join(db.dataDir, f));
  }
  writePart(ctx.setDir, `config.${n.name}`, { files });
}

/** The certificate set of a node, exported from its stores as PFX (as the service account). */
async function exportCerts(ctx: BackupContext, n: NodeConfig): Promise<void> {
  const { exportCertificateSet } = await import('../certs/export.js');
  const h = await ctx.host(n.name);
  const dir = path.join(ctx.setDir, 'certs', n.name);
  // A PFX whose certificate is unchanged since the base set, and that opens with this run's password, is linked from it.
  const earlier = ctx.baseSet ? path.join(ctx.baseSet.dir, 'certs', n.name) : undefined;
  const r = await exportCertificateSet(h, ctx.site.serviceAccount, ctx.certPassword, dir, { reuseFrom: earlier && fs.existsSync(earlier) ? earlier : undefined });
  const files: ManifestFile[] = r.files.map((f: { path: string; rel: string; bytes: number; sha256: string }) => ({
    path: `certs/${n.name}/${path.relative(dir, path.resolve(dir, f.path)).split(path.sep).join('/')}`,
    bytes: f.bytes,
    sha256: f.sha256,
    kind: 'cert' as const,
    node: n.name,
    ...(r.reused.includes(f.rel) ? { reused: true } : {}),
  }));
  if (r.reused.length) ctx.log(`certificates of ${n.name}: ${r.reused.join(', ')} unchanged since set ${ctx.baseId} (same thumbprints, open with this run's password): linked`);
  writePart(ctx.setDir, `certs.${n.name}`, { files });
}

/** A set is complete, and immutable, once its manifest exists. */
function setComplete(ctx: Pick<BackupContext, 'setDir'>): boolean {
  return fs.existsSync(path.join(ctx.setDir, MANIFEST));
}

/** The writer's rule: nothing writes into a set that has its manifest (verified.json excepted, replaced atomically). */
function assertSetOpen(setDir: string, what: string): void {
  if (fs.existsSync(path.join(setDir, MANIFEST))) throw new Error(`${what} refused to write into ${setDir}: the set is complete (it has its manifest) and is never changed`);
}

/**
 * Assemble the manifest from the parts and write it last: temp files of killed attempts removed, every file fsync'd
 * first (a manifest never describes bytes that are not on disk), then the set checked against it the way `backup
 * verify` checks its layout, and that recorded as the quick verification.
 */
async function writeSetManifest(ctx: BackupContext, site: SiteConfig): Promise<void> {
  let written: Manifest | null = null;
  let scan: SetScan | undefined;
  if (!setComplete(ctx)) {
    const m = assembleManifest(ctx, site);
    const { removed: stale, scan: after } = removeTempFiles(ctx.setDir, new Set(m.files.map((f) => f.path)));
    if (stale.length) ctx.log(`removed ${stale.length} temp file(s) of an interrupted attempt from the set: ${stale.slice(0, 5).join(', ')}`);
    // Taken before the manifest is written and the parts folder and the in-progress marker are removed (below): the
    // check leaves those out, as it leaves out manifest.json.
    scan = { ...after, files: after.files.filter((f) => !f.startsWith(`${PARTS_DIR}/`) && f !== IN_PROGRESS) };
    const t0 = Date.now();
    await syncSetFiles(ctx.setDir, m.files);
    ctx.log(`fsync of the set's files before the manifest: ${Date.now() - t0} ms`);
    writeManifest(ctx.setDir, m);
    written = m;
  }
  // Read back only when an earlier attempt wrote it: a second copy of a large manifest is memory at the run's peak.
  const m = written ?? readManifest(ctx.setDir)!;
  removeParts(ctx.setDir);
  fs.rmSync(path.join(ctx.setDir, IN_PROGRESS), { force: true });
  const problems = [...manifestPathProblems(m), ...layoutProblems(ctx.setDir, m, undefined, scan)];
  writeVerified(ctx.setDir, { ok: problems.length === 0, level: 'quick', at: new Date().toISOString(), problems });
  if (problems.length) throw new VerificationError(`the set ${ctx.setDir} does not match its manifest: ${problems.slice(0, 3).join('; ')}`, `see qsadmin backup verify ${ctx.setDir}`);
  ctx.outputs.set('backup', { id: m.id, dir: ctx.setDir, files: m.totals.files, bytes: m.totals.bytes, reusedFiles: m.totals.reusedFiles, reusedBytes: m.totals.reusedBytes, downtimeMs: m.downtimeMs, base: m.base });
}

/** The manifest from the parts of the current capture. */
function assembleManifest(ctx: BackupContext, site: SiteConfig): Manifest {
  const parts = readAllParts(ctx.setDir);
  // Read back from the parts, the entries' strings are new copies: made the base index's again (its memory peak).
  const files = Object.values(parts).flatMap((p) => p.files).map((f) => withBaseStrings(f, ctx.base?.byPath.get(f.path)));
  const id = currentCapture(ctx);
  const from = ctx.outputs.get<string>('downtime.from') ?? new Date().toISOString();
  const to = ctx.outputs.get<string>('downtime.to') ?? from;
  const created = ctx.outputs.get<{ created: string }>('preflight')?.created ?? from;
  const m: Manifest = {
    format: FORMAT,
    tool: { name: 'qsadmin', version: ctx.in.toolVersion ?? 'dev' },
    id: ctx.in.backupId,
    runId: ctx.runId,
    created,
    completed: new Date().toISOString(),
    durationMs: Date.now() - Date.parse(created),
    downtimeMs: Date.parse(to) - Date.parse(from),
    capture: {
      database: 'exported snapshot per database (REPEATABLE READ), taken while services were stopped',
      share: ctx.in.skipShare ? 'skipped' : ctx.sharePlans.map((p) => p.mode).join(', '),
      downtimeFrom: from,
      downtimeTo: to,
    },
    compress: ctx.compress,
    base: ctx.baseId,
    site: {
      name: site.name,
      qlikVersion: null,
      nodes: site.nodes.map((n) => ({ name: n.name, hostname: n.hostname, role: n.role })),
      database: {
        host: site.database.host,
        port: site.database.port,
        service: site.database.service,
        serverVersion: ctx.discovery.server.version,
        clientVersion: ctx.discovery.client.version,
        superuser: site.database.superuser,
      },
      serviceAccount: site.serviceAccount,
      share: ctx.in.skipShare ? [] : ctx.discovery.share.map((f) => ({ role: f.role, path: f.path, stored: storedShare(f), outsideRoot: f.outsideRoot })),
    },
    databases: ctx.discovery.databases.map((d) => ({
      name: d.name,
      owner: d.owner,
      encoding: d.encoding,
      sizeBytes: d.sizeBytes,
      dumped: d.dump,
      reason: d.reason,
      rowCounts: d.dump ? (readPart(ctx.setDir, `db.${d.name}`, id)?.extra?.rowCounts as Record<string, number> | undefined) : undefined,
      stamp: d.dump ? (readPart(ctx.setDir, `db.${d.name}`, id)?.extra?.stamp as DbStamp | undefined) : undefined,
    })),
    files: files.sort((a, b) => a.path.localeCompare(b.path)),
    totals: totals(files),
  };
  return m;
}

/** Pack a finished set into <id>.tar (a second pass over the data; no incrementals for single-file sets). */
async function packSet(ctx: BackupContext): Promise<void> {
  const out = path.join(ctx.in.to, `${ctx.in.backupId}.tar`);
  await packSetTar(ctx.setDir, out);
  writePrivateSync(path.join(ctx.in.to, `${ctx.in.backupId}.verified.json`), fs.readFileSync(path.join(ctx.setDir, VERIFIED)));
  fs.rmSync(ctx.setDir, { recursive: true, force: true });
  ctx.outputs.set('backup.file', out);
}

/** A new backup id and the default target, for the command. */
export function newBackupInputs(base: Omit<BackupInputs, 'backupId'>): BackupInputs {
  return { ...base, backupId: newBackupId() };
}
