// `qsadmin site init`, run on the central node: what the site is, read from the site itself. Host.cfg names the
// node; the installed services say whether the repository database runs here (its command line gives the data
// folder, whose postgresql.conf gives the port) and which account runs Qlik; QSR lists the nodes
// (ServerNodeConfigurations) and the share. The result goes through the one site-config writer (writer.ts).
import fs from 'node:fs';
import path from 'node:path';
import { withClient } from '../postgres/client.js';
import { InputError } from '../runbook/errors.js';
import type { Host, InstalledService } from '../host/types.js';
import { decodeHostCfg } from '../emulator/qrs/host-cfg.js';
import { postgresServiceInfo } from '../host/windows/service-command.js';
import { DEFAULT_DB_PASSWORD_ENV } from './database.js';
import type { NodeConfig, SiteConfig } from './model.js';
import { ALL_QLIK_SERVICES, DATABASE_SERVICES, type DatabaseServiceName, type QlikServiceName } from './services.js';
import { readShareFolders } from './share.js';
import { readMachineFacts } from '../emulator/services/install-layout.js';

export interface InitOptions {
  /** Set for an emulated node: the folder that plays its C: drive (the emulator's nodes/<name>). */
  emulatedNode?: string;
  name?: string;
  /** The database when this node does not run it (a dedicated server). */
  dbHost?: string;
  dbPort?: number;
  superuser?: string;
  passwordEnv?: string;
  /** The superuser password (from the environment or a prompt; never written). */
  password: () => Promise<string>;
  openHost: (site: SiteConfig, node: NodeConfig) => Promise<Host>;
}

export interface InitResult {
  site: SiteConfig;
  /** What was found where, for the operator to check. */
  found: string[];
}

const QPI_SERVICE: DatabaseServiceName = 'postgresql-x64-14';

/** The repository database service of a node: QPI's postgresql-x64-14 wins over the bundled one it replaced. */
function databaseServiceOf(installed: InstalledService[]): InstalledService | undefined {
  return installed.find((s) => s.name === QPI_SERVICE) ?? installed.find((s) => s.name in DATABASE_SERVICES);
}

/** `port = 4432` from a postgresql.conf (the last setting wins, as PostgreSQL reads it); 5432 when unset. */
export function portOfPostgresConf(text: string): number {
  let port = 5432;
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*port\s*=?\s*'?(\d+)'?\s*(#.*)?$/.exec(line);
    if (m) port = Number(m[1]);
  }
  return port;
}

const hostnameOf = async (host: Host): Promise<string> => decodeHostCfg((await host.files.read(host.paths.hostCfg)).toString('utf8'));

/** Read the site from its central node and return the config for every later command. */
export async function initSite(o: InitOptions): Promise<InitResult> {
  const found: string[] = [];
  const emulated = o.emulatedNode ? path.resolve(o.emulatedNode) : undefined;
  const driver: SiteConfig['driver'] = emulated ? 'emulated' : 'windows';
  // A provisional site of this one node, enough to open its host and read what is installed.
  const here: NodeConfig = { name: 'central', hostname: 'localhost', role: 'central', address: 'localhost', ...(emulated ? { root: emulated } : { reach: { via: 'local' as const } }) };
  const draft: SiteConfig = { name: 'site-init', driver, nodes: [here], database: { host: 'localhost', port: 4432, service: null, superuser: 'postgres' }, serviceAccount: 'x', shareRoot: 'x' };
  const host = await o.openHost(draft, here);
  try {
    const hostname = await hostnameOf(host).catch((e) => {
      throw new InputError(`this is not a Qlik Sense node: ${host.paths.hostCfg} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'run site init on the central node of the site, elevated');
    });
    found.push(`Host.cfg: this node is ${hostname}`);
    const installed = await host.machine.installedServices();
    const qlik = installed.filter((s) => (ALL_QLIK_SERVICES as string[]).includes(s.name));
    if (!qlik.length) throw new InputError(`no Qlik Sense service is installed on ${hostname}`, 'run site init on the central node of the site');
    const account = qlik.find((s) => s.name === 'QlikSenseRepositoryService')?.account ?? qlik[0].account;
    if (!account) throw new InputError(`the logon account of the Qlik services on ${hostname} cannot be read`, 'run site init elevated');
    found.push(`services: ${qlik.map((s) => s.name).join(', ')}, run as ${account}`);
    const address = await host.machine.addressOf(hostname);
    // installedServices above read the same facts, so they are there.
    const portOffset = emulated ? readMachineFacts(emulated).portOffset : undefined;

    // The database: this node's service (port from its postgresql.conf), or the one named on the command line.
    const dbService = databaseServiceOf(installed);
    const info = dbService?.commandLine ? postgresServiceInfo(dbService.commandLine) : null;
    if (!dbService && !o.dbHost) {
      throw new InputError(`no repository database service on ${hostname}: the database is on another server`, 'pass --db-host (and --db-port, default 4432) of the dedicated database server');
    }
    const dbHost = o.dbHost ?? address;
    let dbPort = o.dbPort;
    if (dbService) {
      const conf = info?.dataDir ? path.join(host.files.resolve(info.dataDir), 'postgresql.conf') : undefined;
      const readable = !!conf && fs.existsSync(conf);
      dbPort ??= readable ? portOfPostgresConf(fs.readFileSync(conf!, 'utf8')) : 4432;
      found.push(`database: service ${dbService.name}${info?.dataDir ? `, data folder ${info.dataDir}` : ''}, ${dbHost}:${dbPort}${o.dbPort ? ' (port given)' : readable ? ' (port from postgresql.conf)' : ' (the default port: no postgresql.conf was readable)'}`);
    } else found.push(`database: ${dbHost}:${dbPort ?? 4432} (given; no database service on this node)`);
    const database: SiteConfig['database'] = {
      host: dbHost,
      port: dbPort ?? 4432,
      service: dbService ? (dbService.name as DatabaseServiceName) : null,
      ...(dbService ? { node: 'central' } : {}),
      superuser: o.superuser ?? 'postgres',
      passwordEnv: o.passwordEnv ?? DEFAULT_DB_PASSWORD_ENV,
      // The emulator's cluster is named by its folders; on Windows both are read from the service at run time.
      ...(emulated && info ? { binDir: info.binDir, dataDir: info.dataDir } : {}),
    };

    // QSR: the nodes and the share.
    const password = await o.password();
    const conn = { host: database.host, port: database.port, user: database.superuser, password, database: 'QSR' };
    let rows: Array<{ HostName: string; IsCentral: boolean }>;
    let share;
    try {
      rows = await withClient(conn, async (c) => (await c.query<{ HostName: string; IsCentral: boolean }>('SELECT "HostName", "IsCentral" FROM "ServerNodeConfigurations" ORDER BY "IsCentral" DESC, "HostName"')).rows);
      share = await readShareFolders(conn);
    } catch (e) {
      throw new InputError(`cannot read QSR on ${database.host}:${database.port}: ${(e as Error).message}`, `check --db-host/--db-port and the superuser password in ${database.passwordEnv}`);
    }
    const central = rows.find((r) => r.IsCentral);
    if (!central || central.HostName.toLowerCase() !== hostname.toLowerCase()) {
      throw new InputError(`${hostname} is not the central node of this site: QSR names ${central?.HostName ?? 'no central node'}`, `run site init on ${central?.HostName ?? 'the central node'}`);
    }
    found.push(`QSR: ${rows.length} node(s): ${rows.map((r) => `${r.HostName}${r.IsCentral ? ' (central)' : ''}`).join(', ')}; share ${share.root}`);

    const nodes: NodeConfig[] = [];
    for (const r of rows) {
      const isCentral = r === central;
      const node: NodeConfig = { name: 'central', hostname: r.HostName, role: isCentral ? 'central' : 'rim', address: isCentral ? address : await host.machine.addressOf(r.HostName) };
      if (emulated) {
        // A rim of an emulated site is a sibling folder whose Host.cfg names it.
        const root = isCentral ? emulated : findEmulatedNode(path.dirname(emulated), r.HostName);
        Object.assign(node, { name: isCentral ? 'central' : path.basename(root), root, portOffset: portOffset ?? 0 });
      } else {
        node.name = isCentral ? 'central' : r.HostName.split('.')[0].toLowerCase();
        if (isCentral) node.reach = { via: 'local' };
      }
      nodes.push(node);
    }
    const services = qlik.map((s) => s.name as QlikServiceName);
    if (services.length < ALL_QLIK_SERVICES.length) nodes[0].services = ALL_QLIK_SERVICES.filter((s) => services.includes(s));

    const siteDir = emulated ? path.dirname(path.dirname(emulated)) : undefined;
    const site: SiteConfig = {
      name: o.name ?? (siteDir ? path.basename(siteDir) : hostname.split('.')[0].toLowerCase()),
      driver,
      nodes,
      database,
      serviceAccount: account,
      shareRoot: share.root,
      ...(siteDir ? { emulator: { siteDir, passwordFile: path.join(siteDir, 'secrets', 'db-password'), assumptions: { hostnameMustMatch: true }, faults: {} } } : {}),
    };
    return { site, found };
  } finally {
    await host.close();
  }
}

function findEmulatedNode(nodesDir: string, hostname: string): string {
  for (const name of fs.readdirSync(nodesDir)) {
    const root = path.join(nodesDir, name);
    try {
      const cfg = fs.readFileSync(path.join(root, 'ProgramData', 'Qlik', 'Sense', 'Host.cfg'), 'utf8');
      if (decodeHostCfg(cfg).toLowerCase() === hostname.toLowerCase()) return root;
    } catch {
      // not a node folder
    }
  }
  throw new InputError(`QSR names the node ${hostname}, but no emulated node folder under ${nodesDir} has it in its Host.cfg`);
}
