// The emulated Qlik_Sense_setup.exe on a node that already runs Qlik Sense: a silent upgrade (guide §4.2) or a silent
// repair (§4.3), with the refusals the guide describes.
//
// EMULATOR ASSUMPTIONS (the guide maps no scenario to an exit code, §8.11):
//   -4 the setup file is older than the installed release (a downgrade)
//   -7 the same release (no upgrade); 3.1 SR1 or earlier straight to a release after June 2017 (§3.3); a repair with
//      a setup file of another release than the installed one (§4.3: it must be the installed version)
//   -11 a release before November 2020 straight to February 2021 or later (§3.3)
//   -8 .NET Framework 4.8 was missing for a target of February 2021 or later: setup installs it, marks a reboot
//      pending and stops ("reboot, then run setup again", §4.2 step 4); every run after that sees the reboot pending
//   -10 Qlik Sense services still run on the node (§3.4 step 1: stop them first; the real setup asks to close them)
//   -13 userpassword is wrong for the service account
//   -14 the local repository database is not running, or dbpassword is not its superuser's password
//   -15 a local PostgreSQL 9.6 with a target of August 2023 or later (§3.3: "you will not be able to proceed"); a
//      repair once patches are applied (§3.2: repair is disabled)
//   -16 not the account that did the original install (§3.3: "the node will not find the certificates")
//   -18 SSL is on for the local repository database (§3.3: the installer cannot use SSL to PostgreSQL)
// Effects: keepcurrentsettings=1 (the default) keeps Repository.exe.config, Proxy.exe.config, Scheduler.exe.config and
// services.conf; =0 writes the installer's own (the database connection string is kept: setup rebuilds it from the
// database it detected). Capabilities.json is always replaced. The release and its patches go to Programs and
// Features (patches are replaced by the new release). skipstartservices defaults to the current state (§4.2): the
// services were stopped, so they stay stopped unless skipstartservices=0.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import { EmulatedServiceControl } from '../../host/emulated/services.js';
import { blocksLocal96, installedRelease, releaseOrder, upgradePathProblem } from '../../installer/releases.js';
import { defaultSitePaths } from '../../host/paths.js';
import type { SetupCommandLine } from './args.js';
import { machineChecks, readProducts, requireOriginalAccount, runningQlikServices, setupFileRelease, SetupExit, startServices, writeProducts, type NodeEnv, type SetupLog } from './common.js';
import { MACHINE_FILE } from '../../host/emulated/machine.js';

const KEPT_CONFIGS = 4; // configFiles[0..3]: Repository.exe.config, Proxy.exe.config, Scheduler.exe.config, services.conf

function machineOf(env: NodeEnv): EmulatedMachine {
  return new EmulatedMachine(env.root, env.node.hostname, env.node.address, env.node.portOffset ?? 0);
}

// Change the node's machine.json (what the machine reports: .NET release, a pending reboot).
function changeMachine(root: string, change: Record<string, unknown>): void {
  const file = path.join(root, '.emulator', MACHINE_FILE);
  const before = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  fs.writeFileSync(file, JSON.stringify({ ...before, ...change }, null, 2) + '\n');
}

// The local repository database, when this node runs it: running, the superuser password right, SSL off, not 9.6.
async function checkLocalDatabase(env: NodeEnv, args: SetupCommandLine, target: string, log: SetupLog): Promise<void> {
  const db = env.site.database;
  if (!db.service || db.node !== env.node.name) return;
  const control = new EmulatedServiceControl(env.site, env.node, () => args.values.dbpassword ?? '');
  if ((await control.status(db.service)).state !== 'running') throw new SetupExit(-14, `the repository database (${db.service}) is not running: start it; setup validates the superuser password against it (§3.4 "Before you start")`, 'QlikSenseRepositoryDatabase');
  const dbProduct = readProducts(env.root).find((p) => /^Qlik Sense Repository Database /.test(p.name));
  const dataMajor = db.dataDir && fs.existsSync(path.join(db.dataDir, 'PG_VERSION')) ? fs.readFileSync(path.join(db.dataDir, 'PG_VERSION'), 'utf8').trim() : '';
  if ((dataMajor === '9.6' || dbProduct?.version === '9.6') && blocksLocal96(target)) {
    throw new SetupExit(-15, `the local repository database is PostgreSQL 9.6: Qlik Sense ${target} cannot be installed over it (§3.3); upgrade the database first (Qlik PostgreSQL Installer)`, 'QlikSenseRepositoryDatabase');
  }
  const { withClient } = await import('../../postgres/client.js');
  let ssl: string;
  try {
    ssl = await withClient({ host: db.host, port: db.port, user: db.superuser, password: args.values.dbpassword ?? '', database: 'postgres' }, async (c) => (await c.query<{ ssl: string }>('SHOW ssl')).rows[0].ssl);
  } catch (e) {
    throw new SetupExit(-14, `the database superuser password (dbpassword) is not accepted by ${db.host}:${db.port}: ${(e as Error).message}`, 'QlikSenseRepositoryDatabase');
  }
  if (ssl === 'on') throw new SetupExit(-18, 'SSL is on for the repository database: the installer cannot use SSL to PostgreSQL; turn it off for the upgrade (§3.3)', 'QlikSenseRepositoryDatabase');
  log.info(`Repository database validated: ${db.host}:${db.port}, superuser password accepted`);
}

// The service account's password (userpassword), when given.
async function checkServicePassword(machine: EmulatedMachine, env: NodeEnv, args: SetupCommandLine): Promise<void> {
  if (args.values.userpassword === undefined) return;
  const a = await machine.account(env.site.serviceAccount, args.values.userpassword);
  if (!a.exists || a.password === 'wrong') throw new SetupExit(-13, `the password given for the service account ${env.site.serviceAccount} is wrong`);
}

async function requireStopped(env: NodeEnv): Promise<void> {
  const running = await runningQlikServices(env.site, env.node);
  if (running.length) throw new SetupExit(-10, `Qlik Sense services still run on this node (${running.join(', ')}): stop them before setup runs (§3.4 step 1)`);
}

/** A silent upgrade of this node to the setup file's release. */
export async function upgrade(env: NodeEnv, args: SetupCommandLine, log: SetupLog): Promise<void> {
  const machine = machineOf(env);
  if (args.values.accepteula !== '1') throw new SetupExit(-6, 'accepteula=1 is mandatory for an upgrade: the Qlik User License Agreement must be accepted');
  const target = setupFileRelease();
  const installed = installedRelease(readProducts(env.root));
  if (!installed) throw new SetupExit(-17, 'Qlik Sense services are installed but Programs and Features lists no Qlik Sense release: repair the installed version first');
  log.info(`Detected Qlik Sense ${installed.name}${installed.patches.length ? ` ${installed.patches.join(', ')}` : ''}; this setup installs Qlik Sense ${target.name} (${target.version})`);
  const path_ = upgradePathProblem(installed.name, target.name);
  if (path_) throw new SetupExit(path_.code, path_.message);
  const needsDotnet48 = releaseOrder(target.name)! >= releaseOrder('February 2021')!;
  await machineChecks(machine, log, {
    installDotnet: needsDotnet48
      ? async () => {
          changeMachine(env.root, { dotnetRelease: 528040, rebootPending: ['.NET Framework 4.8 was installed by Qlik Sense setup: restart the machine'] });
          log.info('Applying execute package: NetFx48');
          throw new SetupExit(-8, '.NET Framework 4.8 was installed: restart the machine, then run setup again (guide §4.2 step 4)', 'NetFx48');
        }
      : undefined,
  });
  const record = await requireOriginalAccount(machine, env.root);
  await requireStopped(env);
  await checkServicePassword(machine, env, args);
  await checkLocalDatabase(env, args, target.name, log);

  const root = env.root;
  const p = defaultSitePaths();
  const keep = args.values.keepcurrentsettings !== '0';
  const saved = p.configFiles.slice(0, KEPT_CONFIGS).map((win) => [win, fs.readFileSync(windowsToEmulated(root, win))] as const);
  log.info('Applying execute package: QlikSenseServices');
  const { layOutPrograms, defaultServiceConfigs } = await import('../services/install-layout.js');
  layOutPrograms(env.node, { release: target.name });
  if (keep) {
    for (const [win, bytes] of saved) fs.writeFileSync(windowsToEmulated(root, win), bytes);
    log.info('keepcurrentsettings=1: kept Repository.exe.config, Proxy.exe.config, Scheduler.exe.config and services.conf; Capabilities.json replaced by the release\'s');
  } else {
    for (const [win, text] of defaultServiceConfigs(env.node)) fs.writeFileSync(windowsToEmulated(root, win), text);
    log.info('keepcurrentsettings=0: Proxy.exe.config, Scheduler.exe.config and services.conf replaced by the installer\'s; the database connection kept');
  }
  const others = readProducts(root).filter((x) => !/^Qlik Sense (\w+ \d{4}|\d\.\d( SR\d+)?)( Patch \d+)?$/.test(x.name));
  writeProducts(root, [{ name: `Qlik Sense ${target.name}`, version: target.version }, ...others]);
  log.info(`Qlik Sense ${installed.name} → ${target.name}: the release's patches were replaced by the release (first installed: ${record.firstRelease})`);
  if (args.values.skipstartservices === '0') await startServices(env.site, env.node, args.values.dbpassword ?? '', log);
  else log.info('skipstartservices: the services were stopped before the upgrade and stay stopped (the current state)');
  log.info('Upgrade completed successfully');
}

/** -silent -repair: the installed release put back (missing program files); refused with patches or another setup file. */
export async function repair(env: NodeEnv, _args: SetupCommandLine, log: SetupLog): Promise<void> {
  const machine = machineOf(env);
  const installed = installedRelease(readProducts(env.root));
  if (!installed) throw new SetupExit(-9, 'Qlik Sense is not installed on this machine: nothing to repair');
  const file = setupFileRelease();
  if (file.name !== installed.name) throw new SetupExit(-7, `this setup file is Qlik Sense ${file.name}; the installed version is ${installed.name}: a repair needs the setup file of the installed version (§4.3)`);
  if (installed.patches.length) throw new SetupExit(-15, `repair is disabled once patches are applied (${installed.patches.join(', ')}): uninstall the patches first (§3.2)`);
  await machineChecks(machine, log);
  await requireOriginalAccount(machine, env.root);
  await requireStopped(env);
  const { layOutPrograms } = await import('../services/install-layout.js');
  const restored = layOutPrograms(env.node, { only: 'missing' });
  log.info(restored.length ? `Restored missing files: ${restored.join(', ')}` : 'No files were missing');
  log.info('Repair completed successfully');
}
