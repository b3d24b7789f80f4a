// `qsadmin share move --to \\server\share [--merge] [--remove-old]` (guide §2.3 "Changing the file share path"):
// check the new share (reachable, writable, the services' account has Full control, empty unless --merge); record the
// paths QRS has; stop all Qlik services except QRS (rims first); copy Apps, ArchivedLogs and StaticContent to the new
// share with a sha256 per file (read back at the destination); point the service cluster at the new paths; start the
// services that were stopped, in order; verify that QRS reports the new paths and every file, every app's among them,
// is at its new place with its sha256. The old share is left untouched unless --remove-old (then removed last, after
// the verification, with --yes).
// NOT THE GUIDE'S ROUTE: the guide changes the paths in QlikSenseUtil's "Service cluster" screen (a GUI); qsadmin
// sends the same settings to QRS's service cluster endpoint (PUT /qrs/servicecluster/{id}).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { copyFileHashed, hashFile, mapLimit } from '../backup/hashcopy.js';
import { listTree } from '../backup/tree.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import { faultPoint } from '../runbook/fault.js';
import type { Runbook, RunbookItem, Step } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, type SiteConfig } from '../site/model.js';
import { isInside } from '../site/share.js';
import { joinLike } from '../host/paths.js';
import type { Host } from '../host/types.js';
import type { QrsClient } from '../qrs/client.js';
import { checkedBuild, requireElevated } from './operator-checks.js';
import { hostPool, serviceItems, siteLockKey, startNodeOrder, stopNodeOrder, waitRepositoryStep, type HostsContext } from './service-steps.js';
import type { BuildEnv } from './registry.js';

export interface ShareMoveInputs {
  sitePath: string;
  to: string;
  merge?: boolean;
  removeOld?: boolean;
  parallel?: number;
}

/** The three folders the guide moves, by their service cluster setting. */
const FOLDERS = [
  { key: 'appFolder', dir: 'Apps' },
  { key: 'archivedLogsRootFolder', dir: 'ArchivedLogs' },
  { key: 'staticContentRootFolder', dir: 'StaticContent' },
] as const;

interface Cluster {
  id: string;
  settings: { sharedPersistenceProperties: Record<string, string> };
}

interface MoveContext extends HostsContext {
  qrs(): Promise<QrsClient>;
  central(): Promise<Host>;
}

interface CopiedFile {
  folder: string;
  rel: string;
  bytes: number;
  sha256: string;
}

const MANIFEST = 'share-move-files.json';

const sameFolder = (a: string | undefined, b: string) => !!a && isInside(a, b) && isInside(b, a);

async function clusterOf(qrs: QrsClient): Promise<Cluster> {
  const all = await qrs.get<Cluster[]>('/qrs/servicecluster/full');
  if (all.length !== 1) throw new Error(`QRS reports ${all.length} service clusters (expected 1)`);
  return all[0];
}

// The new paths: root and the three folders under it, in the share's own path style.
function newPaths(to: string): Record<string, string> {
  const out: Record<string, string> = { rootFolder: to };
  for (const f of FOLDERS) out[f.key] = joinLike(to, f.dir);
  return out;
}

// Build-time checks of the new share: each failure is bad input, before anything changes.
async function checkNewShare(host: Host, to: string, old: Record<string, string>, account: string, merge: boolean): Promise<void> {
  if (!/^\\\\[^\\]+\\[^\\]+/.test(to) && !/^[A-Za-z]:\\/.test(to) && !path.posix.isAbsolute(to)) {
    throw new InputError(`--to ${to} is not a share path`, 'give the new share as \\\\server\\share (the guide\'s form), or an absolute path');
  }
  for (const k of ['rootFolder', ...FOLDERS.map((f) => f.key)]) {
    const v = old[k];
    if (typeof v === 'string' && v && (isInside(v, to) || isInside(to, v))) throw new InputError(`--to ${to} overlaps the current ${k} ${v}`, 'the new share must be a different folder, outside the current one');
  }
  const local = host.files.resolve(to);
  const st = fs.statSync(local, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new InputError(`the new share ${to} is not reachable (no folder at ${local})`, 'create the share first (guide §2.3 step 1) and check that this machine reaches it');
  const probe = path.join(local, `.qsadmin-write-probe-${randomBytes(4).toString('hex')}`);
  try {
    fs.writeFileSync(probe, 'probe');
    fs.rmSync(probe);
  } catch (e) {
    throw new InputError(`the new share ${to} is not writable here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give the account that runs qsadmin and the service account Read/Write on the share and Full control on its folder (guide §2.3)');
  }
  const info = await host.accounts.lookup(account);
  if (!info.administrator && !(await host.accounts.hasFullControl(to, account))) {
    throw new InputError(`the service account ${account} has no Full control on ${to}`, 'Security tab > Advanced: give it Full control on the folder, subfolders and files, and check with Effective Access (guide §2.3)');
  }
  // What is in the new share already must be (part of) a copy of the old folders: a killed run's partial copy, or
  // with --merge files that are the same; anything else is refused (empty share expected, guide §2.3 step 1).
  const present = fs.readdirSync(local).filter((e) => !e.startsWith('.qsadmin-'));
  const strays = present.filter((e) => !FOLDERS.some((f) => f.dir === e));
  if (strays.length && !merge) throw new InputError(`the new share ${to} is not empty (${strays.slice(0, 5).join(', ')}${strays.length > 5 ? ', ...' : ''})`, 'give an empty share, or --merge to copy into it (files of the same name must then be identical)');
  for (const f of FOLDERS) {
    const destDir = path.join(local, f.dir);
    if (!fs.existsSync(destDir)) continue;
    const src = new Map(listTree(host.files.resolve(old[f.key])).map((x) => [x.rel, x.size]));
    for (const x of listTree(destDir)) {
      if (x.rel.endsWith('.partial')) continue;
      const size = src.get(x.rel);
      if (size === undefined && !merge) throw new InputError(`the new share ${to} is not empty (${joinLike(to, f.dir, x.rel)} is not a file of the current share)`, 'give an empty share, or --merge to copy into it');
      if (size !== undefined && size !== x.size) throw new InputError(`${joinLike(to, f.dir, x.rel)} exists with other content than ${joinLike(old[f.key], x.rel)}`, 'move it out of the new share, or copy into an empty folder');
    }
  }
}

function copyStep(to: string, parallel: number): Step<MoveContext> {
  return {
    id: 'share.copy',
    title: 'Copy Apps, ArchivedLogs and StaticContent to the new share, a sha256 per file (the old share is not changed)',
    run: async (ctx) => {
      const host = await ctx.central();
      const old = ctx.outputs.require<Record<string, string>>('share.old', 'share.record');
      const files: CopiedFile[] = [];
      let n = 0;
      const total = FOLDERS.reduce((t, f) => t + listTree(host.files.resolve(old[f.key])).length, 0);
      for (const f of FOLDERS) {
        const src = host.files.resolve(old[f.key]);
        const dest = host.files.resolve(joinLike(to, f.dir));
        fs.mkdirSync(dest, { recursive: true });
        const list = listTree(src);
        await mapLimit(list, parallel, async (x) => {
          const from = path.join(src, ...x.rel.split('/'));
          const target = path.join(dest, ...x.rel.split('/'));
          const want = await hashFile(from);
          // a file copied before a kill (or identical under --merge) is kept; anything else is copied again
          const there = fs.existsSync(target) ? await hashFile(target) : null;
          if (there?.sha256 !== want.sha256) {
            if (there) fs.rmSync(target, { force: true });
            // folders of the live share take the share's permissions; the copy is writable for Qlik, as the source was
            fs.mkdirSync(path.dirname(target), { recursive: true });
            const w = await copyFileHashed(from, target);
            if (w.sha256 !== want.sha256) throw new Error(`${from} changed while it was copied`);
            fs.chmodSync(target, 0o644);
            fs.utimesSync(target, new Date(), new Date(x.mtimeMs));
          }
          files.push({ folder: f.dir, rel: x.rel, bytes: want.bytes, sha256: want.sha256 });
          if (++n === Math.max(1, Math.floor(total / 2))) faultPoint('share-move.copy.mid'); // the kill tests' point: half the files copied
        });
      }
      const tmp = path.join(ctx.runDir, `${MANIFEST}.tmp`);
      fs.writeFileSync(tmp, JSON.stringify(files));
      fs.renameSync(tmp, path.join(ctx.runDir, MANIFEST));
      ctx.log(`copied ${files.length} files, ${files.reduce((s, x) => s + x.bytes, 0)} bytes`);
    },
  };
}

function updateClusterStep(to: string): Step<MoveContext> {
  const want = newPaths(to);
  const same = (c: Cluster) => Object.entries(want).every(([k, v]) => c.settings.sharedPersistenceProperties[k] === v);
  return {
    id: 'share.cluster',
    title: `Point the service cluster at ${to} (QRS PUT /qrs/servicecluster/{id}; the guide uses QlikSenseUtil's "Service cluster" screen)`,
    check: async (ctx) => same(await clusterOf(await ctx.qrs())),
    run: async (ctx) => {
      const qrs = await ctx.qrs();
      const c = await clusterOf(qrs);
      await qrs.put(`/qrs/servicecluster/${c.id}`, { ...c, settings: { ...c.settings, sharedPersistenceProperties: { ...c.settings.sharedPersistenceProperties, ...want } } });
    },
  };
}

function verifyStep(to: string): Step<MoveContext> {
  return {
    id: 'share.verify',
    title: 'Verify: QRS reports the new paths, and every file (every app file among them) is at its new place with its sha256',
    run: async (ctx) => {
      const c = await clusterOf(await ctx.qrs());
      const want = newPaths(to);
      const wrong = Object.entries(want).filter(([k, v]) => c.settings.sharedPersistenceProperties[k] !== v);
      if (wrong.length) throw new VerificationError(`QRS reports ${wrong.map(([k]) => `${k}=${c.settings.sharedPersistenceProperties[k]}`).join(', ')}, not the new share's paths`);
      const host = await ctx.central();
      const files = JSON.parse(fs.readFileSync(path.join(ctx.runDir, MANIFEST), 'utf8')) as CopiedFile[];
      const bad: string[] = [];
      await mapLimit(files, 4, async (f) => {
        const p = path.join(host.files.resolve(joinLike(to, f.folder)), ...f.rel.split('/'));
        try {
          if ((await hashFile(p)).sha256 !== f.sha256) bad.push(`${f.folder}/${f.rel} (sha256 differs)`);
        } catch (e) {
          bad.push(`${f.folder}/${f.rel} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
        }
      });
      if (bad.length) throw new VerificationError(`${bad.length} of ${files.length} files are not right at the new share: ${bad.slice(0, 5).join(', ')}`);
      ctx.outputs.set('share.verified', { files: files.length, apps: files.filter((f) => f.folder === 'Apps').length });
    },
  };
}

function removeOldStep(): Step<MoveContext> {
  return {
    id: 'share.remove-old',
    title: 'Remove Apps, ArchivedLogs and StaticContent from the old share (--remove-old; after the verification)',
    destructive: true,
    run: async (ctx) => {
      if (!ctx.outputs.get('share.verified')) throw new Error('the new share was not verified: the old share is kept');
      const host = await ctx.central();
      const old = ctx.outputs.require<Record<string, string>>('share.old', 'share.record');
      for (const f of FOLDERS) fs.rmSync(host.files.resolve(old[f.key]), { recursive: true, force: true });
    },
  };
}

/** Build the share move; the new share and the site are checked here, before anything changes. */
export async function buildShareMove(inputs: ShareMoveInputs, _env: BuildEnv): Promise<Runbook<MoveContext>> {
  const site: SiteConfig = loadSiteConfig(inputs.sitePath);
  const central = centralNode(site);
  const pool = hostPool(site, (await import('../host/index.js')).openHost);
  const { qrsOnNode } = await import('./qrs-node.js');
  let qrsClient: QrsClient | undefined;
  const qrs = async () => (qrsClient ??= await qrsOnNode(await pool.host(central.name), central));
  let old: Record<string, string> = {};
  await checkedBuild(pool, async () => {
    await requireElevated(pool.host, site.nodes, 'qsadmin share move');
    try {
      old = (await clusterOf(await qrs())).settings.sharedPersistenceProperties;
    } catch (e) {
      throw new InputError(`cannot read the service cluster's share paths from QRS on ${central.name}: ${(e as Error).message}`, 'the Repository Service must be running on the central node (qsadmin services start)');
    }
    const h = await pool.host(central.name);
    const account = (await h.accounts.serviceLogon('QlikSenseRepositoryService')) ?? site.serviceAccount;
    // a resumed run past its service cluster step finds QRS on the new share already: nothing left to check
    if (!sameFolder(old.rootFolder, inputs.to)) await checkNewShare(h, inputs.to, old, account, !!inputs.merge);
  });
  const items: RunbookItem<MoveContext>[] = [
    {
      id: 'share.record',
      title: 'Record the share paths QRS has now (the old share is kept as it is)',
      check: async (ctx) => ctx.outputs.get('share.old') !== undefined,
      run: async (ctx) => {
        ctx.outputs.set('share.old', (await clusterOf(await ctx.qrs())).settings.sharedPersistenceProperties);
      },
    },
  ];
  // guide step 3: all Qlik services except QRS, on every node (rims first)
  const notQrs = ['QSD', 'QPS', 'QES', 'QSS', 'QPR'];
  for (const n of stopNodeOrder(site)) items.push(...serviceItems<MoveContext>(n, 'stop', { only: notQrs, idPrefix: 'share.stop' }));
  items.push(copyStep(inputs.to, inputs.parallel ?? 4), updateClusterStep(inputs.to));
  for (const n of startNodeOrder(site)) {
    items.push(...serviceItems<MoveContext>(n, 'start', { only: notQrs, idPrefix: 'share.start', always: true }).map((it) => ('group' in it ? { ...it, steps: it.steps.map((s) => ({ ...s, onInterrupt: 'run' as const })) } : { ...it, onInterrupt: 'run' as const })));
    if ((n.services ?? ['QlikSenseRepositoryService']).includes('QlikSenseRepositoryService')) items.push(waitRepositoryStep<MoveContext>(n, { idPrefix: 'share.wait', always: true }));
  }
  items.push(verifyStep(inputs.to));
  if (inputs.removeOld) items.push(removeOldStep());
  return {
    name: 'share.move',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    notes: [
      `from ${old.rootFolder} (Apps ${old.appFolder}, ArchivedLogs ${old.archivedLogsRootFolder}, StaticContent ${old.staticContentRootFolder}) to ${inputs.to}`,
      'NOT THE GUIDE\'S ROUTE: the paths are changed through QRS (PUT /qrs/servicecluster/{id}), where the guide uses QlikSenseUtil\'s "Service cluster" screen',
      inputs.removeOld ? 'the old folders are removed last, after the verification (--remove-old)' : 'the old share is left untouched (remove it later, or run with --remove-old)',
    ],
    items,
    context: (b) => ({ ...b, site, host: pool.host, qrs, central: () => pool.host(central.name) }) as MoveContext,
    report: (r) => (r.status === 'succeeded' ? `The share is now ${inputs.to}; restart the QMC (guide §2.3 step 12).${inputs.removeOld ? '' : ' The old share was left as it was.'}` : ''),
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}
