// `qsadmin upgrade --setup PATH --release NAME`: Qlik Sense upgraded across the site the guide's way (§3.3, §3.4, §4.2).
//
// Preflight (before anything changes; a failure is bad input, exit 2): the supported path (3.1 SR1 and earlier via
// June 2017, February 2021 and later via November 2020, no downgrade), one version on every node, a local 9.6
// database blocks August 2023 and later, SSL to PostgreSQL off, no reboot pending, elevated, the account of the
// original install (--original-installer), the database running and the superuser password right, the setup file on
// every node. Then: a verified qsadmin backup (the backup runbook's steps; with Qlik Alerting on the site it is in the
// set too) → the Qlik services stopped on every node, rims first (the database keeps running) → setup on central with
// the documented upgrade arguments (-s -l accepteula=1 keepcurrentsettings=1 skipstartservices=1 userpassword
// dbpassword) → setup on each rim → services started, central first, each node's QRS at servicestate 2 → every node's
// /qrs/about reports the new build. Rollback is restoring the verified backup (qsadmin restore).
//
// .NET 4.8 (§4.2 step 4): an upgrade to February 2021 or later on a machine without it makes setup install it and ask
// for a restart. qsadmin never restarts a machine: the step fails with what to do (restart the node, e.g.
// Restart-Computer, then `qsadmin runs resume <id>`), and the resumed run runs setup again on that node.
// The root certificate must be re-created for sites first installed with June 2019 or earlier (§4.2 step 5): the
// plan says so and the run ends with that instruction (Qlik's Support article; `qsadmin certs renew --force` on the
// central node, then the rims joined again).
import path from 'node:path';
import { withClient } from '../postgres/client.js';
import { blocksLocal96, releaseOrder, rootCertMustBeRecreated, upgradePathProblem, type QlikRelease } from '../installer/releases.js';
import { readSecret } from '../cli/secrets.js';
import { InputError } from '../runbook/errors.js';
import type { Runbook, RunbookItem, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { databasePassword, superuserConn } from '../site/database.js';
import { centralNode, rimNodes, type NodeConfig } from '../site/model.js';
import { buildBackupCreate, type BackupInputs } from './backup-create.js';
import { checkedBuild, requireElevated } from './operator-checks.js';
import { nodeRelease, requireOneVersion, setupStep, unsupportedRimCertificates, startAllSteps, stopAllSteps, verifiedBackupItems, verifyVersionsStep, withBackupFirst, type SetupRunContext } from './qlik-setup-steps.js';
import type { BuildEnv } from './registry.js';
import { hostPool, siteLockKey } from './service-steps.js';

export interface UpgradeInputs {
  sitePath: string;
  /** Qlik_Sense_setup.exe of the new release, at this path on every node (Windows path). */
  setup: string;
  /** The release the setup file installs, as Programs and Features names it ("May 2025"). */
  release: string;
  /** The account that did the original install (setup must run as it); unchecked when absent. */
  originalInstaller?: string;
  /** The release the site was first installed with (for the root certificate rule); default: the installed one. */
  firstInstalled?: string;
  serviceAccountPasswordEnv: string;
  backup: BackupInputs;
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
}

interface UpgradeContext extends SetupRunContext {
  dbPassword: string;
  userPassword: string;
}

const DOTNET_48 = 528040;

/** Setup's silent upgrade (guide §4.2): services stay stopped (qsadmin starts and checks them), settings kept. */
export function upgradeSetupArgs(log: string, userPassword: string, dbPassword?: string): string[] {
  return ['-s', '-l', log, 'accepteula=1', 'desktopshortcut=0', 'keepcurrentsettings=1', 'skipstartservices=1', `userpassword=${userPassword}`, ...(dbPassword !== undefined ? [`dbpassword=${dbPassword}`] : [])];
}

/** Build the upgrade runbook; every refusal happens here, before anything changes. */
export async function buildUpgrade(inputs: UpgradeInputs, env?: BuildEnv): Promise<Runbook<UpgradeContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  if (releaseOrder(inputs.release) === null) throw new InputError(`--release "${inputs.release}" is not a Qlik Sense release name`, 'give it as Programs and Features names it, e.g. --release "May 2025"');
  if (inputs.firstInstalled !== undefined && releaseOrder(inputs.firstInstalled) === null) throw new InputError(`--first-installed "${inputs.firstInstalled}" is not a Qlik Sense release name`, 'e.g. --first-installed "June 2019"');
  const dbPassword = await databasePassword(site, env?.interactive);
  const userPassword = await readSecret({ label: `password of the service account ${site.serviceAccount} (userpassword)`, env: inputs.serviceAccountPasswordEnv }, env?.interactive);
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  const central = centralNode(site);
  const notes: string[] = [];
  const releases = new Map<string, QlikRelease>();
  // A resumed run is not refused for what its own steps did (some nodes on the new release already).
  const begun = (await import('node:fs')).existsSync(path.join(inputs.backup.to, inputs.backup.backupId));
  let from: QlikRelease | undefined;
  let rootCert = false;
  await checkedBuild(pool, async () => {
    await requireElevated(pool.host, site.nodes, 'qsadmin upgrade');
    for (const n of site.nodes) {
      const h = await pool.host(n.name);
      releases.set(n.name, await nodeRelease(h, n));
      const reboot = await h.machine.rebootPending();
      if (reboot.length) throw new InputError(`a reboot is pending on ${n.name} (${reboot.join('; ')}): setup refuses to run (exit -8)`, `restart ${n.hostname} first`);
      if (inputs.originalInstaller) {
        const me = (await h.machine.identity()).user;
        if (me.toLowerCase() !== inputs.originalInstaller.toLowerCase()) throw new InputError(`qsadmin runs as ${me} on ${n.name}, not as ${inputs.originalInstaller}, the account that did the original install: the upgraded node would not find its certificates (guide §3.3)`, `log on as ${inputs.originalInstaller} and run the upgrade again`);
      }
      if (!(await h.files.exists(inputs.setup))) throw new InputError(`${inputs.setup} does not exist on ${n.name}`, 'copy the setup file of the new release to the same path on every node (the guide: download it locally)');
    }
    if (!begun) {
      const foreign = await unsupportedRimCertificates(site, pool.host);
      if (foreign.length) throw new InputError(`certificates on rim nodes that are not the site's (setup stops on "unsupported certificates on a non-central node", guide §3.5):\n  ${foreign.join('\n  ')}`, 'remove them from the rim (qsadmin certs export first); the rim gets the site\'s certificates again from the central node (qsadmin cluster join)');
      from = requireOneVersion(site, releases);
      const problem = upgradePathProblem(from.name, inputs.release);
      if (problem) throw new InputError(`${problem.message} (setup would exit ${problem.code})`, problem.hint);
    } else from = releases.get(central.name);
    // The repository database: running, the password right, SSL off, not a local 9.6 under August 2023 or later.
    let server: { version: string; ssl: string };
    try {
      server = await withClient(superuserConn(site, dbPassword), async (c) => (await c.query<{ version: string; ssl: string }>("SELECT current_setting('server_version') AS version, current_setting('ssl') AS ssl")).rows[0]);
    } catch (e) {
      const msg = (e as Error).message;
      if (/password authentication failed/i.test(msg)) throw new InputError(`the database superuser password is wrong: ${msg}`, `set ${site.database.passwordEnv ?? 'QSADMIN_DB_PASSWORD'} to the password of "${site.database.superuser}" (setup validates it: dbpassword)`);
      throw new InputError(`the repository database at ${site.database.host}:${site.database.port} does not answer: ${msg}`, 'start the repository database service: it must run during the upgrade (guide §3.4)');
    }
    if (server.ssl === 'on') throw new InputError(`SSL is on for the repository database at ${site.database.host}:${site.database.port}: the installer cannot use SSL to PostgreSQL (guide §3.3)`, 'turn SSL off for the upgrade (ssl = off in postgresql.conf, restart the database), and on again afterwards (qsadmin db harden)');
    const local = site.database.service === 'QlikSenseRepositoryDatabase' ? site.database.node : undefined;
    if (local && blocksLocal96(inputs.release)) {
      const products = await (await pool.host(local)).machine.installedProducts();
      if (server.version.startsWith('9.') || products.some((p) => /^Qlik Sense Repository Database 9\.6/.test(p.name))) {
        throw new InputError(`the local repository database is PostgreSQL 9.6: Qlik Sense ${inputs.release} (August 2023 or later) cannot be installed over it (guide §3.3)`, 'upgrade the database first: qsadmin db upgrade --engine qpi');
      }
    }
    if (local && server.version.startsWith('12.') && blocksLocal96(inputs.release)) notes.push(`the local repository database is PostgreSQL ${server.version}: setup warns and goes on, and keeps using it (guide §3.3); qsadmin db upgrade --engine qpi moves it to 14`);
    for (const n of site.nodes) {
      const inv = await (await pool.host(n.name)).machine.inventory();
      if ((inv.dotnetRelease ?? 0) < DOTNET_48 && releaseOrder(inputs.release)! >= releaseOrder('February 2021')!) {
        notes.push(`${n.name} has no .NET Framework 4.8: setup installs it and asks for a restart; the run stops at that node's setup step: restart ${n.hostname}, then qsadmin runs resume (qsadmin never restarts a machine)`);
      }
    }
    rootCert = rootCertMustBeRecreated(inputs.firstInstalled ?? from!.name, inputs.release);
  });

  const brb = await buildBackupCreate(inputs.backup, env).catch(async (e) => {
    await pool.closeAll();
    throw e;
  });
  // the superuser's password only where setup finds the database (the node that runs it)
  const setupArgs = (n: NodeConfig) => (ctx: UpgradeContext, log: string) => upgradeSetupArgs(log, ctx.userPassword, site.database.node === n.name && site.database.service ? ctx.dbPassword : undefined);
  const upgraded = (n: NodeConfig) => async (h: Awaited<ReturnType<typeof pool.host>>) => (await nodeRelease(h, n)).name === inputs.release;
  const upgradeStep = (n: NodeConfig) =>
    setupStep<UpgradeContext>({
      id: `upgrade.setup.${n.name}`,
      title: `Upgrade ${n.name} to Qlik Sense ${inputs.release}: ${path.win32.basename(inputs.setup)} -s accepteula=1 keepcurrentsettings=1 skipstartservices=1 (passwords redacted)`,
      node: n,
      file: inputs.setup,
      what: 'upgrade',
      logName: 'Qlik_Sense_setup.log',
      args: setupArgs(n),
      done: upgraded(n),
      explain: async (code, h) => {
        const reboot = await h.machine.rebootPending();
        if (code === -8 && reboot.length) return `setup wants ${n.hostname} restarted (${reboot.join('; ')}), as the guide says after it installs .NET Framework 4.8 (§4.2 step 4). qsadmin does not restart machines: restart ${n.hostname} (Restart-Computer), then run qsadmin runs resume: setup runs again on ${n.name}`;
        return null;
      },
    });
  const nodes = [central, ...rimNodes(site)];
  const items: RunbookItem<UpgradeContext>[] = [
    ...verifiedBackupItems<UpgradeContext>(brb, 'upgrade', 'upgrade'),
    ...stopAllSteps<UpgradeContext>(site, 'upgrade.stop', 'upgrade.setups-done', inputs.stopTimeoutMs),
    ...nodes.map(upgradeStep),
    {
      id: 'upgrade.setups-done',
      title: 'Record that every node runs the new release (the stops are not repeated on resume)',
      run: async (ctx) => ctx.outputs.set('upgrade.setups-done', { release: inputs.release, at: new Date().toISOString() }),
    },
    ...startAllSteps<UpgradeContext>(site, 'upgrade.start', inputs.startTimeoutMs),
    verifyVersionsStep<UpgradeContext>(site, 'upgrade.verify', () => ({ release: inputs.release, patch: null })),
    {
      id: 'upgrade.after',
      title: 'What the upgrade did not keep: Capabilities.json, custom PostgreSQL settings' + (rootCert ? '; the root certificate to re-create' : ''),
      run: async (ctx) => {
        ctx.log('warning: Capabilities.json was replaced by the new release\'s: re-apply your changes (guide §3.3)');
        ctx.log('warning: custom PostgreSQL settings (postgresql.conf, pg_hba.conf) must be re-done after an upgrade (guide §3.3); the backup set holds the old files under config/<node>/');
        if (rootCert) ctx.log('warning: this site was first installed with June 2019 or earlier: re-create the root certificate (guide §4.2 step 5): qsadmin certs renew --force on the central node, then join the rims again');
      },
    },
  ];
  return {
    name: 'upgrade',
    site: path.resolve(inputs.sitePath),
    lockKey: siteLockKey(site),
    inputs: inputs as unknown as Record<string, unknown>,
    secrets: [dbPassword, userPassword, ...(brb.secrets ?? [])],
    notes: [
      `Qlik Sense ${from?.name ?? '?'} → ${inputs.release} on ${site.nodes.map((n) => n.name).join(', ')} (central first; all nodes offline during the setups; guide §3.3)`,
      `first: a verified qsadmin backup ${inputs.backup.backupId} in ${inputs.backup.to}${site.alerting ? ' (with Qlik Alerting)' : ''}; the rollback is restoring it (qsadmin restore)`,
      'setup takes the passwords on its command line (userpassword, dbpassword: the guide\'s arguments); qsadmin redacts them in its log, journal and --json. On Windows setup starts from the PowerShell session (remote nodes: Invoke-Command), so they never reach the argv of a qsadmin child process, but an administrator of the node can read setup\'s own command line while it runs',
      'keepcurrentsettings=1 keeps Repository.exe.config, Proxy.exe.config, Scheduler.exe.config and services.conf; Capabilities.json is NOT kept, nor custom PostgreSQL settings (guide §3.3)',
      ...(inputs.originalInstaller ? [`runs as ${inputs.originalInstaller}, the account of the original install`] : ['the account of the original install is not checked (give --original-installer): setup refuses another account, and the node would not find its certificates']),
      ...(rootCert ? [`the site was first installed with ${inputs.firstInstalled ?? from?.name} (June 2019 or earlier): the root certificate must be re-created after the upgrade (guide §4.2 step 5); the run ends with that instruction`] : []),
      ...notes,
      ...(brb.notes ?? []).map((n) => `backup: ${n}`),
    ],
    items,
    ...withBackupFirst<UpgradeContext>(brb, pool, site, { dbPassword, userPassword }),
  };
}
