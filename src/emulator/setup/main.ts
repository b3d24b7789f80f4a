// The emulated Qlik_Sense_setup.exe (guide §4): a silent install or uninstall of one emulated Windows node, with the
// documented command line (args.ts) and shared persistence configuration (spc); on a node that runs Qlik Sense
// already, a silent upgrade or -repair (upgrade.ts). The release it installs is the one its file carries
// (common.ts setupFileRelease); the install records it in Programs and Features and who installed it.
//
// EMULATOR ASSUMPTIONS (the guide lists the exit codes, §8.11, but maps no scenario to one):
//   -2 command line parsing error, no -silent (the emulator has no UI), a missing spc file
//   -6 accepteula is not 1; .NET Framework 4.8 missing (a silent install cannot answer the .NET prompt)
//   (upgrade and repair: their codes are listed in upgrade.ts)
//   -8 a reboot is pending            -20 the OS is older than Windows Server 2016 (build 14393)
//   -13 the service account does not exist or its password is wrong (skipped with skipvalidation=1)
//   -14 the database superuser password is missing (InstallLocalDb), or the repository database refuses the
//       spc's DbUserName/DbUserPassword on a join (skipped with skipvalidation=1)
//   -15 CreateCluster on an external database (not emulated)
//   -18 the spc breaks a documented rule; the share is not reachable or writable (skipped with skipvalidation=1)
//   -1601 less than 5 GB free         -1602 not elevated (the UAC prompt nobody answers in a silent run)
// The log imitates a WiX Burn log: "[pid:tid][time]i000: ..." for information, "e000: ..." for errors, with the
// failing package named ("Failed to install package: <name>"), which qsadmin's log scan looks for.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import { EmulatedServiceControl } from '../../host/emulated/services.js';
import { parseSpc, validateSpc, type SpcValues } from '../../install/spc.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { ALL_QLIK_SERVICES, startOrder } from '../../site/services.js';
import { parseSetupArgs, redactSetupArgs, SetupArgsError, type SetupCommandLine } from './args.js';
import { exitWith, machineChecks, nodeFromEnv, onNode, setupFileRelease, SetupExit, SetupLog, sleep, startServices, validateUser, writeInstallRecord, type NodeEnv } from './common.js';

// Read and check the shared persistence configuration named by spc=.
function readSpc(root: string, args: SetupCommandLine): SpcValues {
  const file = args.values.sharedpersistenceconfig;
  if (!file) throw new SetupExit(-2, 'sharedpersistenceconfig (spc) is required: give the path of the shared persistence configuration file');
  let text: string;
  try {
    text = fs.readFileSync(onNode(root, file), 'utf8');
  } catch (e) {
    throw new SetupExit(-2, `the shared persistence configuration ${file} cannot be read (${(e as NodeJS.ErrnoException).code})`);
  }
  let parsed;
  try {
    parsed = parseSpc(text);
  } catch (e) {
    throw new SetupExit(-18, `${file}: ${(e as Error).message}`);
  }
  const problems = validateSpc(parsed.values, parsed.unknown);
  if (problems.length) throw new SetupExit(-18, `${file}: ${problems.join('; ')}`);
  return parsed.values;
}

// The share root must exist and be writable by setup (the guide's "shared folder access" validation).
function validateShare(root: string, spc: SpcValues, args: SetupCommandLine): void {
  if (args.values.skipvalidation === '1') return;
  const share = onNode(root, spc.RootDir!);
  const probe = path.join(share, `.qlik-setup-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'validation');
    fs.rmSync(probe);
  } catch (e) {
    throw new SetupExit(-18, `the share ${spc.RootDir} is not reachable or not writable (${(e as NodeJS.ErrnoException).code}): check the path and the service account's rights`);
  }
}

// The install itself: central (CreateCluster with InstallLocalDb) or a node that joins (JoinCluster).
async function install(env: NodeEnv, args: SetupCommandLine, log: SetupLog): Promise<void> {
  const machine = new EmulatedMachine(env.root, env.node.hostname, env.node.address, env.node.portOffset ?? 0);
  if (args.values.accepteula !== '1') throw new SetupExit(-6, 'accepteula=1 is mandatory: the Qlik User License Agreement must be accepted');
  await machineChecks(machine, log);
  const spc = readSpc(env.root, args);
  const account = await validateUser(machine, args, log);
  validateShare(env.root, spc, args);
  const hostname = args.values.hostname || env.node.hostname;
  const create = spc.CreateCluster?.toLowerCase() === 'true';
  const db = {
    host: spc.DbHost!,
    port: Number(spc.DbPort),
    user: spc.DbUserName!,
    password: spc.DbUserPassword!,
  };
  if (spc.DbUserName !== 'qliksenserepository') throw new SetupExit(-15, `DbUserName ${spc.DbUserName}: the emulator creates only the qliksenserepository role [emulator assumption]`);
  const node: NodeConfig = { ...env.node, hostname, role: create ? 'central' : 'rim' };
  let site: SiteConfig = { ...env.site, serviceAccount: account, shareRoot: spc.RootDir!, nodes: env.site.nodes.map((n) => (n.name === node.name ? node : n)) };
  if (create) {
    if (spc.InstallLocalDb?.toLowerCase() !== 'true') throw new SetupExit(-15, 'CreateCluster on an existing database server is not emulated: set InstallLocalDb to true [emulator assumption]');
    if (!args.values.dbpassword) throw new SetupExit(-14, 'dbpassword is required with InstallLocalDb: the password of the database superuser', 'QlikSenseRepositoryDatabase');
    site = await installLocalDatabase(env, site, node, db, spc, args.values.dbpassword, log);
  } else {
    await checkJoinDatabase(db, args, log);
  }
  log.info('Applying execute package: QlikSenseServices');
  const { layOutNode, writeMachineFacts } = await import('../services/install-layout.js');
  layOutNode(site, node, { repositoryPassword: db.password, repositoryUser: db.user, hostsFile: false });
  const dbRow = create ? databaseServiceRow(site) : [];
  const qlik = ALL_QLIK_SERVICES.map((name) => ({ Name: name, PathName: `"${args.values.installdir ?? 'C:\\Program Files\\Qlik\\Sense'}\\${name}"`, StartName: account }));
  writeMachineFacts(site, node, { hostsFile: false, services: [...dbRow, ...qlik] });
  log.info(`Installed services: ${[...dbRow, ...qlik].map((s) => s.Name).join(', ')} (log on as ${account})`);
  // Programs and Features and the Package Cache as this release's installer leaves them, and who installed it.
  const release = setupFileRelease();
  const { writeProducts: writeInstalledProducts } = await import('../services/install-layout.js');
  writeInstalledProducts(node, release, create ? Number(path.basename(site.database.dataDir!)) : null);
  writeInstallRecord(env.root, { installedBy: (await machine.identity()).user, firstRelease: release.name, installDir: args.values.installdir ?? 'C:\\Program Files\\Qlik\\Sense' });
  log.info(`Installed Qlik Sense ${release.name} (${release.version})`);
  const admin = (await machine.account(account)).admin;
  if (args.values.skipstartservices === '1') log.info('skipstartservices=1: services not started');
  else if (!admin) log.warn('The service user does not have administrator privileges. See the documentation for more information.');
  else await startServices(site, node, args.values.dbpassword ?? '', log);
  log.info('Installation completed successfully');
}

// The row Windows would list for the bundled database service (its command line names bin and data folders).
function databaseServiceRow(site: SiteConfig): Array<{ Name: string; PathName: string; StartName: string }> {
  const d = site.database;
  return [{ Name: d.service!, PathName: `"${path.join(d.binDir!, 'pg_ctl')}" runservice -N "${d.service}" -D "${d.dataDir}" -w`, StartName: 'LocalSystem' }];
}

// InstallLocalDb: a PostgreSQL cluster on this node as QlikSenseRepositoryDatabase, the four databases, QSR seeded.
async function installLocalDatabase(env: NodeEnv, site: SiteConfig, node: NodeConfig, db: { host: string; port: number; password: string }, spc: SpcValues, superPassword: string, log: SetupLog): Promise<SiteConfig> {
  log.info('Applying execute package: QlikSenseRepositoryDatabase');
  const { findServerBinDir } = await import('../../postgres/bin.js');
  const { siteCluster } = await import('../services/database.js');
  const { createRepositoryDatabases, seedSite } = await import('../db/setup.js');
  const { EMULATED_OPERATOR } = await import('../../host/emulated/machine.js');
  const bin = await findServerBinDir(site.database.binDir);
  const dataDir = windowsToEmulated(env.root, `C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\${bin.major}`);
  const out: SiteConfig = {
    ...site,
    database: { ...site.database, host: node.address, port: db.port, service: 'QlikSenseRepositoryDatabase', node: node.name, superuser: 'postgres', binDir: bin.dir, dataDir },
  };
  const cluster = siteCluster(out, superPassword);
  try {
    await cluster.init();
    await cluster.start();
    const conn = cluster.conn();
    await createRepositoryDatabases(conn, { layout: 'installer', repositoryPassword: db.password });
    const me = (await new EmulatedMachine(env.root, node.hostname).identity()).user.split('\\');
    await seedSite(conn, {
      nodes: [{ hostname: node.hostname, isCentral: true }],
      shareRoot: spc.RootDir!,
      appsDir: spc.AppsDir,
      staticContentDir: spc.StaticContentRootDir,
      archivedLogsDir: spc.ArchivedLogsDir,
      dbHost: db.host,
      dbPort: db.port,
      rootAdmin: me.length === 2 ? { userDirectory: me[0], userId: me[1] } : EMULATED_OPERATOR,
    });
  } catch (e) {
    await cluster.stop({ mode: 'immediate' }).catch(() => undefined);
    throw new SetupExit(-23, `the repository database could not be installed: ${(e as Error).message}`, 'QlikSenseRepositoryDatabase');
  }
  log.info(`Repository database installed: ${dataDir} on port ${db.port}`);
  return out;
}

// A joining node connects to QSR with the spc's repository user (the database connection test, unless skipvalidation=1).
async function checkJoinDatabase(db: { host: string; port: number; user: string; password: string }, args: SetupCommandLine, log: SetupLog): Promise<void> {
  if (args.values.skipvalidation === '1') return;
  const { withClient } = await import('../../postgres/client.js');
  try {
    const central = await withClient({ ...db, database: 'QSR' }, async (c) => (await c.query<{ HostName: string }>('SELECT "HostName" FROM "ServerNodeConfigurations" WHERE "IsCentral" = true')).rows);
    if (central.length !== 1) throw new SetupExit(-18, `the repository database at ${db.host}:${db.port} has no central node: install the central node first`);
    log.info(`Database connection test succeeded: ${db.host}:${db.port}, central node ${central[0].HostName}`);
  } catch (e) {
    if (e instanceof SetupExit) throw e;
    throw new SetupExit(-14, `cannot connect to the repository database at ${db.host}:${db.port} as ${db.user}: ${(e as Error).message}`, 'QlikSenseRepositoryDatabase');
  }
}

// -silent -uninstall [cleanup=1]: stop and remove the services and programs; cleanup also removes ProgramData\Qlik\Sense
// and the Qlik certificates (guide §4.1). The database data folder goes only with cleanup.
async function uninstall(env: NodeEnv, args: SetupCommandLine, log: SetupLog): Promise<void> {
  const machine = new EmulatedMachine(env.root, env.node.hostname);
  const installed = await machine.installedServices();
  if (installed.length === 0) throw new SetupExit(-9, 'Qlik Sense is not installed on this machine: nothing to uninstall');
  const control = new EmulatedServiceControl(env.site, env.node, () => args.values.dbpassword ?? process.env[env.site.database.passwordEnv ?? ''] ?? '');
  for (const tier of startOrder(env.node.services ?? ALL_QLIK_SERVICES).reverse()) {
    await Promise.all(tier.map((s) => control.stop(s).catch(() => undefined)));
  }
  const dbHere = env.site.database.service && env.site.database.node === env.node.name;
  if (dbHere) {
    const { siteCluster } = await import('../services/database.js');
    await siteCluster(env.site, '').stop({ mode: 'fast' }).catch(() => undefined);
  }
  const { writeMachineFacts } = await import('../services/install-layout.js');
  writeMachineFacts(env.site, env.node, { hostsFile: false, services: [] });
  fs.rmSync(windowsToEmulated(env.root, 'C:\\Program Files\\Qlik'), { recursive: true, force: true });
  writeInstallRecord(env.root, null);
  const { writeProducts: writeInstalledProducts } = await import('./common.js');
  writeInstalledProducts(env.root, []);
  log.info('Removed the Qlik Sense programs and services; the local licence and any patches are removed with them');
  if (args.values.cleanup === '1') {
    fs.rmSync(windowsToEmulated(env.root, 'C:\\ProgramData\\Qlik\\Sense'), { recursive: true, force: true });
    const { EmulatedCertStore } = await import('../../host/emulated/certstore.js');
    const store = new EmulatedCertStore(env.root, env.site.serviceAccount);
    const { qrsStores } = await import('../qrs/certificates.js');
    for (const s of qrsStores(env.site.serviceAccount)) {
      for (const c of await store.list(s)) if (c.qlikExtension !== null || /-CA$/.test(c.subject) || c.subject === 'QlikClient') await store.remove(s, c.thumbprint);
    }
    log.info('cleanup=1: removed ProgramData\\Qlik\\Sense and the Qlik certificates');
  }
  log.info('Uninstall completed successfully');
}

async function main(argv: string[]): Promise<number> {
  let args: SetupCommandLine | undefined;
  let log = new SetupLog(null);
  try {
    args = parseSetupArgs(argv);
    const env = nodeFromEnv();
    log = new SetupLog(args.log ? onNode(env.root, args.log) : path.join(windowsToEmulated(env.root, 'C:\\Users\\qsadmin\\AppData\\Local\\Temp'), 'Qlik_Sense_setup.log'));
    log.info(`Qlik Sense setup (emulated) ${redactSetupArgs(argv).join(' ')}`);
    for (const w of args.warnings) log.warn(w);
    if (args.help) {
      process.stdout.write('Qlik_Sense_setup.exe [-silent] [-uninstall] {-log path\\filename} {layout=path} {accepteula=1|0} ... (guide §4.1)\n');
      return 0;
    }
    if (args.layout) throw new SetupExit(-3, '-layout is not emulated');
    if (!args.silent) throw new SetupExit(-2, 'the emulated setup has no user interface: -silent (or -s) is required');
    const installed = (await new EmulatedMachine(env.root, env.node.hostname).installedServices()).length > 0;
    const { repair, upgrade } = await import('./upgrade.js');
    if (args.uninstall) await uninstall(env, args, log);
    else if (args.repair) await repair(env, args, log);
    else if (installed) await upgrade(env, args, log);
    else await install(env, args, log);
    await sleep(0);
    return 0;
  } catch (e) {
    if (e instanceof SetupArgsError) {
      log.error(`Command line parsing error: ${e.message}`);
      return -2;
    }
    const exit = e instanceof SetupExit ? e : new SetupExit(-1, (e as Error).stack ?? String(e));
    if (exit.pkg) log.error(`Failed to install package: ${exit.pkg}`);
    log.error(`Error ${exit.code}: ${exit.message}`);
    return exit.code;
  }
}

// Windows reports the code as a 32-bit unsigned value (-1 → 4294967295): exitWith writes the full code for the host.
main(process.argv.slice(2)).then(exitWith);
