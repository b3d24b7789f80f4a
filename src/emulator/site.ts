// The emulated Qlik Sense site: create (node folders, a real PostgreSQL cluster, QSR seeded and filled, certificates),
// start and stop in the guide's order, and destroy with every process it started (DESIGN.md "The emulated site").
//
// Secrets: site.json holds no password. The database superuser password is read from the environment variable named in
// database.passwordEnv (QSADMIN_DB_PASSWORD). For the demo, createEmulatedSite also writes it to <dir>/secrets/db-password
// (0600; named in site.emulator.passwordFile), which the emulated host reads when that variable is not set, and writes
// <dir>/secrets/pgpass (0600, PostgreSQL's pgpass format: the superuser and qliksenserepository lines) for PGPASSFILE.
// The qliksenserepository password is otherwise only in each node's Repository.exe.config, encrypted (emulated DPAPI).
import { writeSiteConfig } from '../site/writer.js';
import { EMULATED_OPERATOR } from '../host/emulated/machine.js';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { generateQlikCertSet } from '../certs/generate.js';
import { EmulatedHost } from '../host/emulated/index.js';
import { windowsToEmulated } from '../host/paths.js';
import { findServerBinDir } from '../postgres/bin.js';
import type { PgConn } from '../postgres/client.js';
import { centralNode, rimNodes, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, startOrder, type DatabaseServiceName, type QlikServiceName, type ServiceName } from '../site/services.js';
import type { FaultConfig } from './faults.js';
import { createCentralCertificates, installRimCertificates } from './qrs/certificates.js';
import { siteCluster } from './services/database.js';
import { emulatedDatabase } from './services/db-state.js';
import { layOutNode, writeProducts } from './services/install-layout.js';
import type { EmulatorOptions } from './services/options.js';
import { killPostmaster, nodeProcesses, signal } from './services/reaper.js';

export type { SiteSize } from './db/generate.js';
import type { SiteSize } from './db/generate.js';

export interface CreateSiteOptions {
  /** Directory of the site: site.json, secrets/, nodes/<name>/, share/. */
  dir: string;
  name?: string;
  nodes?: 1 | 3;
  /** Database ownership: 'manual' (guide §2.5, qliksenserepository owns all four) or 'installer' (QSR owned by postgres). */
  layout?: 'manual' | 'installer';
  /** The bundled service, QPI's, or null: a dedicated PostgreSQL server that no node runs (its cluster under <dir>/dbserver). */
  databaseService?: DatabaseServiceName | null;
  /** Qlik Sense release installed on the nodes, as Windows lists it (default May 2025), and the patches applied. */
  qlikRelease?: { name: string; version: string; patches?: string[] };
  size?: SiteSize;
  /** Added to every port (database 4432+offset, QRS 4242+offset, ...). */
  portOffset?: number;
  /** Address of the first node; the others count up from it (default 127.0.0.2, .3, .4). */
  baseAddress?: string;
  hostnames?: string[];
  /** Names of rim nodes that are failover candidates (guide §2.4); the central node always is one. */
  failoverCandidates?: string[];
  /** Put ArchivedLogs outside the share root (QSR then points elsewhere). */
  shareOutside?: boolean;
  /** Start the Qlik services in order at the end (the database service always runs after creation). */
  startServices?: boolean;
  serviceAccount?: string;
  /** Folder of initdb/pg_ctl/postgres; found on the machine when absent. */
  pgBinDir?: string;
  /** Qlik Alerting on the central node (default.json, certificates, the MongoDB stand-in and its fake tools). */
  alerting?: import('./alerting/layout.js').AlertingLayoutOptions;
  /** Extra emulator options written to site.json (timeouts, assumptions, faults). */
  emulator?: EmulatorOptions & { faults?: FaultConfig };
  /** 'md5': the database as Qlik's installer leaves it (guide §6.7, md5 hashes and pg_hba.conf lines); default SCRAM. */
  databasePasswordEncryption?: 'md5' | 'scram-sha-256';
  /** Add the security-rules demo objects (streams, data connection, apps, users of seed 004; src/emulator/db/rules-demo.ts). */
  rulesDemo?: boolean;
}

export interface EmulatedSite {
  dir: string;
  siteFile: string;
  site: SiteConfig;
  /** The database superuser password (also in <dir>/secrets/db-password, never in site.json). */
  superuserPassword: string;
  repositoryPassword: string;
}

export const DB_PASSWORD_ENV = 'QSADMIN_DB_PASSWORD';
const DEFAULT_HOSTNAMES = ['qs-central.emulated.test', 'qs-rim1.emulated.test', 'qs-rim2.emulated.test'];

// A random password of URL-safe characters.
function newPassword(): string {
  return randomBytes(18).toString('base64url');
}

// The n-th address counting up from a base address (127.0.0.2 + 1 = 127.0.0.3).
// QSADMIN_EMULATOR_NET=N moves emulated nodes from 127.0.0.x to 127.0.N.x, so that several test runs can share
// one machine without binding each other's addresses (loopback 127.0.0.0/8 is all local).
function addressAt(base: string, n: number): string {
  const parts = base.split('.').map(Number);
  const net = process.env.QSADMIN_EMULATOR_NET;
  if (net && /^\d{1,3}$/.test(net) && Number(net) <= 255 && parts[0] === 127 && parts[1] === 0 && parts[2] === 0) parts[2] = Number(net);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || parts[3] + n > 254) {
    throw new Error(`baseAddress "${base}" cannot number ${n + 1} nodes: use an IPv4 address such as 127.0.0.2`);
  }
  return [...parts.slice(0, 3), parts[3] + n].join('.');
}

// Write a secret file (0600) in the site's secrets folder (0700).
function writeSecret(dir: string, name: string, content: string): string {
  const secrets = path.join(dir, 'secrets');
  fs.mkdirSync(secrets, { recursive: true, mode: 0o700 });
  fs.chmodSync(secrets, 0o700);
  const file = path.join(secrets, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

// Where the database cluster's data lives on the central node: bundled (QRD) or after QPI (postgresql-x64-14).
function databaseDataDir(root: string, service: DatabaseServiceName, major: number): string {
  return service === 'postgresql-x64-14'
    ? windowsToEmulated(root, 'C:\\Program Files\\PostgreSQL\\14\\data')
    : windowsToEmulated(root, `C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\${major === 12 ? '12.5' : major === 9 ? '9.6' : major}`);
}

// The site config (site.json) for the options; no secret in it.
function siteConfig(dir: string, o: CreateSiteOptions, binDir: string, major: number): SiteConfig {
  const count = o.nodes ?? 1;
  const offset = o.portOffset ?? 0;
  const hostnames = o.hostnames ?? DEFAULT_HOSTNAMES;
  if (hostnames.length < count) throw new Error(`${count} nodes need ${count} hostnames (got ${hostnames.length})`);
  const nodes: NodeConfig[] = Array.from({ length: count }, (_, i) => {
    const name = i === 0 ? 'central' : `rim${i}`;
    return { name, hostname: hostnames[i], role: i === 0 ? 'central' : 'rim', address: addressAt(o.baseAddress ?? '127.0.0.2', i), root: path.join(dir, 'nodes', name), portOffset: offset };
  });
  const service = o.databaseService === undefined ? 'QlikSenseRepositoryDatabase' : o.databaseService;
  const emulator: EmulatorOptions & { faults: FaultConfig } = {
    siteDir: dir,
    passwordFile: path.join(dir, 'secrets', 'db-password'),
    assumptions: { hostnameMustMatch: true },
    ...o.emulator,
    faults: { ...o.emulator?.faults },
  };
  return {
    name: o.name ?? path.basename(dir),
    driver: 'emulated',
    nodes,
    database: {
      host: nodes[0].address,
      port: 4432 + offset,
      service,
      node: service ? nodes[0].name : undefined,
      superuser: 'postgres',
      passwordEnv: DB_PASSWORD_ENV,
      binDir,
      dataDir: service ? databaseDataDir(nodes[0].root!, service, major) : path.join(dir, 'dbserver', 'PostgreSQL', String(major), 'data'),
    },
    serviceAccount: o.serviceAccount ?? 'qservice',
    shareRoot: path.join(dir, 'share'),
    ...(o.alerting ? { alerting: { node: nodes[0].name } } : {}),
    emulator: emulator as unknown as Record<string, unknown>,
  };
}

// The share folders as QSR will hold them (ArchivedLogs outside the share root when asked).
function shareFolders(dir: string, site: SiteConfig, outside: boolean): { apps: string; staticContent: string; archivedLogs: string } {
  return {
    apps: path.join(site.shareRoot, 'Apps'),
    staticContent: path.join(site.shareRoot, 'StaticContent'),
    archivedLogs: outside ? path.join(dir, 'archived-logs') : path.join(site.shareRoot, 'ArchivedLogs'),
  };
}

// Write site.json.
export function writeSiteFile(dir: string, site: SiteConfig): string {
  return writeSiteConfig(path.join(dir, 'site.json'), site);
}

// Read site.json of an emulated site directory.
export function loadEmulatedSite(dir: string): SiteConfig {
  return JSON.parse(fs.readFileSync(path.join(path.resolve(dir), 'site.json'), 'utf8')) as SiteConfig;
}

// Create an emulated site: folders, secrets, site.json, the database cluster (running), databases, QSR seed and data,
// certificates for a multi-node site, and, when asked, the Qlik services started in order.
export async function createEmulatedSite(o: CreateSiteOptions): Promise<EmulatedSite> {
  const dir = path.resolve(o.dir);
  if (fs.existsSync(path.join(dir, 'site.json'))) throw new Error(`${dir} already holds a site (site.json): destroy it first or choose another directory`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const bin = await findServerBinDir(o.pgBinDir);
  const site = siteConfig(dir, o, bin.dir, bin.major);
  const superuserPassword = newPassword();
  const repositoryPassword = newPassword();
  const db = site.database;
  writeSecret(dir, 'db-password', superuserPassword + '\n');
  writeSecret(dir, 'pgpass', `${db.host}:${db.port}:*:${db.superuser}:${superuserPassword}\n${db.host}:${db.port}:*:qliksenserepository:${repositoryPassword}\n`);
  const siteFile = writeSiteFile(dir, site);
  for (const node of site.nodes) {
    layOutNode(site, node, { repositoryPassword });
    writeProducts(node, o.qlikRelease ?? { name: 'May 2025', version: '14.222.5' }, db.service === 'QlikSenseRepositoryDatabase' && db.node === node.name ? bin.major : null);
  }
  if (o.alerting) (await import('./alerting/layout.js')).layOutAlerting(site, centralNode(site), o.alerting);
  const shares = shareFolders(dir, site, o.shareOutside ?? false);
  for (const folder of [site.shareRoot, ...Object.values(shares)]) fs.mkdirSync(folder, { recursive: true, mode: 0o755 });

  const cluster = siteCluster(site, superuserPassword);
  try {
    await cluster.init();
    const md5 = o.databasePasswordEncryption === 'md5' ? await import('./day2/password-encryption.js') : null;
    if (md5) await md5.configureMd5(cluster);
    await cluster.start();
    if (md5) await md5.rehashSuperuserMd5(cluster);
    const conn: PgConn = cluster.conn();
    await fillDatabase(site, conn, o, repositoryPassword, shares);
    if (site.nodes.length > 1) await issueSiteCertificates(site);
    if (o.startServices) await startSite(site);
  } catch (err) {
    await stopEverything(site, 5_000).catch(() => undefined);
    throw err;
  }
  return { dir, siteFile, site, superuserPassword, repositoryPassword };
}

// Create the repository databases, seed QSR as a fresh install, and generate the site's content.
async function fillDatabase(site: SiteConfig, conn: PgConn, o: CreateSiteOptions, repositoryPassword: string, shares: { apps: string; staticContent: string; archivedLogs: string }): Promise<void> {
  const { createRepositoryDatabases } = await import('./db/setup.js');
  const { seedSite } = await import('./db/seed.js');
  const { generateSiteData } = await import('./db/generate.js');
  await createRepositoryDatabases(conn, { layout: o.layout ?? 'manual', repositoryPassword });
  await seedSite(conn, {
    nodes: site.nodes.map((n) => ({ hostname: n.hostname, isCentral: n.role === 'central', failoverCandidate: o.failoverCandidates?.includes(n.name) || undefined })),
    serviceAccount: site.serviceAccount,
    shareRoot: site.shareRoot,
    appsDir: shares.apps,
    staticContentDir: shares.staticContent,
    archivedLogsDir: shares.archivedLogs,
    dbHost: site.database.host,
    dbPort: site.database.port,
    rootAdmin: EMULATED_OPERATOR,
  });
  const nodeLogDirs = site.nodes.map((n) => windowsToEmulated(n.root!, 'C:\\ProgramData\\Qlik\\Sense\\Log'));
  await generateSiteData({ db: { ...conn, database: 'QSR' }, shareDirs: shares, nodeLogDirs, size: o.size ?? 'tiny' });
  if (o.rulesDemo) await (await import('./db/rules-demo.js')).seedRulesDemo({ ...conn, database: 'QSR' }, shares.apps);
}

// Make the central node's certificate set and issue each rim node's set from the central CA (as the cluster join distributes them).
async function issueSiteCertificates(site: SiteConfig): Promise<void> {
  const central = centralNode(site);
  const set = await createCentralCertificates(central.root!, central.hostname, site.serviceAccount);
  for (const rim of rimNodes(site)) {
    await installRimCertificates(rim.root!, generateQlikCertSet(rim.hostname, { ca: set.root }), site.serviceAccount);
  }
}

// The Qlik services installed on a node, grouped by start tier.
function tiers(node: NodeConfig): QlikServiceName[][] {
  return startOrder(node.services ?? ALL_QLIK_SERVICES);
}

// Start the site in the guide's order: the database, then on the central node and each rim node QSD → QRS → QPS/QES/QSS/QPR.
export async function startSite(site: SiteConfig, opts: { timeoutMs?: number } = {}): Promise<void> {
  const nodes = [centralNode(site), ...rimNodes(site)];
  const db = site.database;
  if (db.service && db.node) await new EmulatedHost(site, nodes.find((n) => n.name === db.node)!).services.start(db.service, opts);
  for (const node of nodes) {
    const host = new EmulatedHost(site, node);
    for (const tier of tiers(node)) {
      const results = await Promise.allSettled(tier.map((s) => host.services.start(s, opts)));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length === 1) throw failed[0].reason;
      if (failed.length > 1) throw new Error(`starting site ${site.name} failed on ${node.name}: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
    }
  }
  // Qlik Alerting beside the site: MongoDB first (the Gateway does not start without it).
  const alerting = site.alerting && nodes.find((n) => n.name === site.alerting!.node);
  if (alerting) for (const s of new EmulatedHost(site, alerting).services.alertingServices()) await new EmulatedHost(site, alerting).services.start(s as ServiceName, opts);
}

// Stop the site in reverse order (rim nodes first, then the central node, each tier by tier), then the database service.
export async function stopSite(site: SiteConfig, opts: { timeoutMs?: number; database?: boolean } = {}): Promise<void> {
  const failures: string[] = [];
  const nodes = [...rimNodes(site).reverse(), centralNode(site)];
  const alerting = site.alerting && nodes.find((n) => n.name === site.alerting!.node);
  if (alerting) {
    const h = new EmulatedHost(site, alerting);
    for (const s of h.services.alertingServices().reverse()) await h.services.stop(s as ServiceName, opts).catch((e: Error) => failures.push(e.message));
  }
  for (const node of nodes) {
    const host = new EmulatedHost(site, node);
    for (const tier of tiers(node).reverse()) {
      const results = await Promise.allSettled(tier.map((s) => host.services.stop(s, opts)));
      for (const r of results) if (r.status === 'rejected') failures.push((r.reason as Error).message);
    }
  }
  const db = site.database;
  if (opts.database !== false && db.service && db.node && failures.length === 0) {
    await new EmulatedHost(site, nodes.find((n) => n.name === db.node)!).services.stop(db.service as ServiceName, opts);
  }
  if (failures.length > 0) throw new Error(`stopping site ${site.name} failed: ${failures.join('; ')}`);
}

// Stop what can be stopped quickly, then kill whatever is left of the site's processes and its database.
async function stopEverything(site: SiteConfig, timeoutMs: number): Promise<void> {
  await stopSite(site, { timeoutMs, database: false }).catch(() => undefined);
  for (const node of site.nodes) {
    if (!node.root) continue;
    for (const pid of nodeProcesses(node.root)) signal(pid, 'SIGKILL');
  }
  if (site.database.dataDir) {
    await siteCluster(site, '').stop({ mode: 'immediate', timeoutMs }).catch(() => undefined);
    // every cluster the site ever ran: the bundled one, and QPI's or a native upgrade's new one
    const db = emulatedDatabase(site);
    const dirs = new Set([site.database.dataDir, ...(db ? [db.current.dataDir, ...db.retired.map((r) => r.dataDir)] : []), ...extraClusters(site)]);
    for (const d of dirs) await killPostmaster(d);
  }
}

// Clusters beside the site's own (a native upgrade's new major: <parent>/<major>/data): their servers die with the site.
function extraClusters(site: SiteConfig): string[] {
  const data = site.database.dataDir!;
  const out: string[] = [];
  for (const parent of [path.dirname(data), path.dirname(path.dirname(data))]) {
    for (const e of fs.existsSync(parent) ? fs.readdirSync(parent) : []) {
      for (const d of [path.join(parent, e), path.join(parent, e, 'data')]) if (fs.existsSync(path.join(d, 'postmaster.pid'))) out.push(d);
    }
  }
  return out;
}

// Stop every service and the database, kill stray processes, and remove the site directory.
export async function destroySite(dir: string): Promise<void> {
  const abs = path.resolve(dir);
  if (fs.existsSync(path.join(abs, 'site.json'))) await stopEverything(loadEmulatedSite(abs), 5_000);
  fs.rmSync(abs, { recursive: true, force: true });
}
