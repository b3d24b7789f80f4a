// `qsadmin patch --update PATH --patch N` (guide §3.7, §4.4) and `qsadmin repair --setup PATH` (§3.8, §4.3).
//
// patch: preflight (one version on every node, the patch not superseded, elevated, no reboot pending, the original
// install account, the update file on every node) → a verified qsadmin backup → the services stopped on ALL nodes
// (rims first) → `Qlik_Sense_update.exe install log=...` on central → central's services started and checked
// explicitly (servicestate 2; the guide is inconsistent on what `startservices` does, so qsadmin does not pass it)
// → then each rim the same way → every node's /qrs/about reports the patched build. Patches are cumulative. The root
// certificate must be re-created after some patches (§4.4 list): the plan and the run say so.
//
// repair: one node, `Qlik_Sense_setup.exe -s -repair -l ...`; refused once patches are applied (repair is disabled:
// uninstall them first) and when --release (the setup file's release) is not the installed one; setup itself refuses a
// setup file of another version, which qsadmin reports as bad input with nothing changed.
import path from 'node:path';
import { patchNeedsRootCert, patchNumber, type QlikRelease } from '../installer/releases.js';
import { InputError } from '../runbook/errors.js';
import type { Runbook, RunbookItem, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, findNode, rimNodes, type NodeConfig } from '../site/model.js';
import { buildBackupCreate, type BackupInputs } from './backup-create.js';
import { checkedBuild, requireElevated } from './operator-checks.js';
import { nodeRelease, requireOneVersion, setupStep, startNodeSteps, stopAllSteps, verifiedBackupItems, verifyVersionsStep, withBackupFirst, type SetupRunContext } from './qlik-setup-steps.js';
import type { BuildEnv } from './registry.js';
import { hostPool, siteLockKey, stopServiceSteps } from './service-steps.js';

export interface PatchInputs {
  sitePath: string;
  /** Qlik_Sense_update.exe, at this path on every node. */
  update: string;
  /** The patch number the update file installs ("Patch 3" → 3). */
  patch: number;
  originalInstaller?: string;
  backup: BackupInputs;
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
}

export interface RepairInputs {
  sitePath: string;
  node: string;
  setup: string;
  /** The setup file's release, when the operator knows it: refused up front if it is not the installed one. */
  release?: string;
  originalInstaller?: string;
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
}

/** The patch's silent install (guide §4.4); no startservices: qsadmin starts and checks the services itself. */
export function patchUpdateArgs(log: string): string[] {
  return ['install', `log=${log}`];
}

/** Setup's silent repair (guide §4.3). */
export function repairSetupArgs(log: string): string[] {
  return ['-s', '-repair', '-l', log];
}

// The checks every node gets before setup or update runs there (exit 2, nothing changed).
async function nodeChecks(pool: ReturnType<typeof hostPool>, nodes: NodeConfig[], file: string, originalInstaller: string | undefined, what: string): Promise<Map<string, QlikRelease>> {
  await requireElevated(pool.host, nodes, `qsadmin ${what}`);
  const releases = new Map<string, QlikRelease>();
  for (const n of nodes) {
    const h = await pool.host(n.name);
    releases.set(n.name, await nodeRelease(h, n));
    const reboot = await h.machine.rebootPending();
    if (reboot.length) throw new InputError(`a reboot is pending on ${n.name} (${reboot.join('; ')}): setup refuses to run (exit -8)`, `restart ${n.hostname} first`);
    if (originalInstaller) {
      const me = (await h.machine.identity()).user;
      if (me.toLowerCase() !== originalInstaller.toLowerCase()) throw new InputError(`qsadmin runs as ${me} on ${n.name}, not as ${originalInstaller}, the account that installed the node: the central node would not find the node's certificates (guide §3.7)`, `log on as ${originalInstaller}`);
    }
    if (!(await h.files.exists(file))) throw new InputError(`${file} does not exist on ${n.name}`, `copy ${path.win32.basename(file)} to the same path on every node`);
  }
  return releases;
}

/** Build the patch runbook. */
export async function buildPatch(inputs: PatchInputs, env?: BuildEnv): Promise<Runbook<SetupRunContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  if (!Number.isInteger(inputs.patch) || inputs.patch < 1) throw new InputError(`--patch ${inputs.patch} is not a patch number`, 'give the number of the patch the update file installs, e.g. --patch 3');
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  const fs = await import('node:fs');
  const begun = fs.existsSync(path.join(inputs.backup.to, inputs.backup.backupId));
  let release!: QlikRelease;
  await checkedBuild(pool, async () => {
    const releases = await nodeChecks(pool, site.nodes, inputs.update, inputs.originalInstaller, 'patch');
    release = begun ? releases.get(centralNode(site).name)! : requireOneVersion(site, releases);
    const current = Math.max(0, ...release.patches.map((p) => patchNumber(p) ?? 0));
    if (!begun && current >= inputs.patch) throw new InputError(`Patch ${inputs.patch} is superseded: the site runs Qlik Sense ${release.name} Patch ${current} (update would exit -22)`, 'patches are cumulative: use a later patch, or nothing to do');
  });
  const brb = await buildBackupCreate(inputs.backup, env).catch(async (e) => {
    await pool.closeAll();
    throw e;
  });
  const want = `Patch ${inputs.patch}`;
  const patched = (n: NodeConfig) => async (h: Awaited<ReturnType<typeof pool.host>>) => (await nodeRelease(h, n)).patches.includes(want);
  const items: RunbookItem<SetupRunContext>[] = [
    ...verifiedBackupItems<SetupRunContext>(brb, 'patch', 'patch'),
    ...stopAllSteps<SetupRunContext>(site, 'patch.stop', 'patch.central-done', inputs.stopTimeoutMs),
  ];
  for (const n of [centralNode(site), ...rimNodes(site)]) {
    items.push(
      setupStep<SetupRunContext>({
        id: `patch.update.${n.name}`,
        title: `Patch ${n.name}: ${path.win32.basename(inputs.update)} install log=... (Qlik Sense ${release.name} ${want})`,
        node: n,
        file: inputs.update,
        what: 'patch',
        logName: 'Qlik_Sense_update.log',
        args: (_ctx, log) => patchUpdateArgs(log),
        done: patched(n),
      }),
    );
    if (n.role === 'central') items.push({ id: 'patch.central-done', title: 'Record that central is patched (the stops are not repeated on resume)', run: async (ctx) => ctx.outputs.set('patch.central-done', true) });
    items.push(...startNodeSteps<SetupRunContext>(n, `patch.start`, inputs.startTimeoutMs));
  }
  items.push(verifyVersionsStep<SetupRunContext>(site, 'patch.verify', () => ({ release: release.name, patch: want })));
  const rootCert = patchNeedsRootCert(release.name, inputs.patch);
  if (rootCert) items.push({ id: 'patch.after', title: 'The root certificate to re-create after this patch (guide §4.4)', run: async (ctx) => ctx.log(`warning: after Qlik Sense ${release.name} ${want} the root certificate must be re-created (guide §4.4): qsadmin certs renew --force on the central node, then join the rims again`) });
  return {
    name: 'patch',
    site: path.resolve(inputs.sitePath),
    lockKey: siteLockKey(site),
    inputs: inputs as unknown as Record<string, unknown>,
    secrets: brb.secrets,
    notes: [
      `Qlik Sense ${release.name}${release.patches.length ? ` ${release.patches[release.patches.length - 1]}` : ''} → ${want} on ${site.nodes.map((n) => n.name).join(', ')}: services stopped on all nodes, central patched and started first, then each rim (guide §3.7)`,
      `first: a verified qsadmin backup ${inputs.backup.backupId} in ${inputs.backup.to}; the rollback is uninstalling the patch (Qlik_Sense_update.exe uninstall) or restoring the backup`,
      'startservices is not passed: the guide is inconsistent about it (§4.4), so qsadmin starts the services in order and checks them',
      ...(rootCert ? [`after ${want} of ${release.name} the root certificate must be re-created (guide §4.4): the run ends with that instruction`] : []),
      ...(brb.notes ?? []).map((n) => `backup: ${n}`),
    ],
    items,
    ...withBackupFirst<SetupRunContext>(brb, pool, site, {}),
  };
}

/** Build the repair runbook (one node). */
export async function buildRepair(inputs: RepairInputs, _env?: BuildEnv): Promise<Runbook<SetupRunContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const node = findNode(site, inputs.node);
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  let release!: QlikRelease;
  await checkedBuild(pool, async () => {
    release = (await nodeChecks(pool, [node], inputs.setup, inputs.originalInstaller, 'repair')).get(node.name)!;
    if (release.patches.length) throw new InputError(`${node.name} runs Qlik Sense ${release.name} with ${release.patches.join(', ')}: repair is disabled once patches are applied (guide §3.2)`, `uninstall the patches first (Qlik_Sense_update.exe uninstall), or patch again with qsadmin patch`);
    if (inputs.release && inputs.release !== release.name) throw new InputError(`the setup file is Qlik Sense ${inputs.release}; ${node.name} runs ${release.name}: a repair needs the setup file of the installed version (guide §4.3)`, `use the Qlik_Sense_setup.exe of Qlik Sense ${release.name}`);
  });
  const items: RunbookItem<SetupRunContext>[] = [
    ...stopServiceSteps<SetupRunContext>(node, { idPrefix: 'repair.stop', timeoutMs: inputs.stopTimeoutMs }).map((s) => ({ ...s, check: async (ctx: SetupRunContext) => ctx.outputs.get('repair.done') !== undefined || (await s.check!(ctx)) })),
    setupStep<SetupRunContext>({
      id: `repair.setup.${node.name}`,
      title: `Repair Qlik Sense ${release.name} on ${node.name}: ${path.win32.basename(inputs.setup)} -s -repair -l ...`,
      node,
      file: inputs.setup,
      what: 'repair',
      logName: 'Qlik_Sense_setup.log',
      args: (_ctx, log) => repairSetupArgs(log),
      // a repair leaves no state to check: once it finished (repair.done), resume does not run it again
      done: async (_h, ctx) => ctx.outputs.get('repair.done') !== undefined,
    }),
    { id: 'repair.done', title: 'Record that the repair finished (the stops are not repeated on resume)', check: async (ctx) => ctx.outputs.get('repair.done') !== undefined, run: async (ctx) => ctx.outputs.set('repair.done', true) },
    ...startNodeSteps<SetupRunContext>(node, 'repair.start', inputs.startTimeoutMs),
  ];
  return {
    name: 'repair',
    site: path.resolve(inputs.sitePath),
    lockKey: siteLockKey(site),
    inputs: inputs as unknown as Record<string, unknown>,
    notes: [
      `repair of Qlik Sense ${release.name} on ${node.name} (${node.hostname}): missing files, shortcuts and registry entries put back; no credential changes (guide §3.2)`,
      'the setup file must be the installed version: setup refuses another one (exit 2 here, nothing changed)',
    ],
    items,
    context: async (b: StepContext): Promise<SetupRunContext> => ({ ...b, site, host: pool.host }),
    dispose: async () => pool.closeAll(),
    close: async () => pool.closeAll(),
  };
}
