// The rows a freshly installed site has in QSR: the central node's LocalConfigs, one ServerNodeConfigurations
// row per node with its services, the service cluster and its shared-persistence folders, internal users,
// default streams, security rules and MIME types. Values Qlik does not document are emulator assumptions.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { withClient, type PgConn } from '../../postgres/client.js';
import { STOCK_RULES } from '../../rules/defaults.js';
import { REPOSITORY_ROLE } from './databases.js';
import { inTransaction, insertRows, type Row } from './sql.js';

export interface SeedNode {
  hostname: string;
  isCentral: boolean;
  /** Display name; "Central" for the central node, the hostname otherwise (emulator assumption). */
  name?: string;
  /** 0 production, 1 development, 2 both (QRS NodePurpose). */
  nodePurpose?: number;
  engineEnabled?: boolean;
  proxyEnabled?: boolean;
  schedulerEnabled?: boolean;
  printingEnabled?: boolean;
  failoverCandidate?: boolean;
}

export interface SeedSiteOptions {
  nodes: SeedNode[];
  /** Share root as QSR stores it: Windows form (\\server\share, C:\QlikShare) or a local path. */
  shareRoot: string;
  appsDir?: string;
  staticContentDir?: string;
  archivedLogsDir?: string;
  connector64Dir?: string;
  connector32Dir?: string;
  dbHost: string;
  dbPort: number;
  productVersion?: string;
  /** A user that gets the RootAdmin role (the account a restore must log in with, guide §5). */
  rootAdmin?: { userDirectory: string; userId: string };
}

export interface SeededSite {
  serviceClusterId: string;
  sharedPersistenceId: string;
  /** ServerNodeConfigurations.ID by hostname. */
  nodeIds: Record<string, string>;
}

const SYSTEM = 'INTERNAL\\sa_repository';
/** Service accounts in the INTERNAL directory (emulator assumption beyond sa_repository and sa_api). */
export const INTERNAL_USERS = ['sa_repository', 'sa_api', 'sa_scheduler', 'sa_proxy', 'sa_engine', 'sa_printing'];
/** Custom Data folder, local to each node (DESIGN "emulated site"). */
const CUSTOM_DATA = 'C:\\Program Files\\Common Files\\Qlik\\Custom Data';

// Join a folder under the share in the share's own path style.
export function sharePath(root: string, ...parts: string[]): string {
  const windows = /^[A-Za-z]:|^\\\\/.test(root);
  return windows ? path.win32.join(root, ...parts) : path.posix.join(root, ...parts);
}

// A row with the common QSR columns filled in.
function entity(fields: Row, id: string = randomUUID()): Row & { ID: string } {
  return { ID: id, ModifiedByUserName: SYSTEM, ...fields };
}

// The default security rules, with the fixed seed ids every site shares (src/rules/defaults.ts).
function defaultRules(): Row[] {
  return STOCK_RULES.map((r) =>
    entity({ Name: r.name, ResourceFilter: r.resourceFilter, Rule: r.rule, Actions: r.actions, Category: r.category, Type: 'Default', Disabled: false, RuleContext: r.ruleContext, SeedId: r.seedId, Comment: '' }),
  );
}

// MIME types the static-content service serves (a subset; emulator assumption).
function mimeTypes(): Row[] {
  const m = (Extension: string, Mime: string, Binary: boolean): Row => entity({ Extension, Mime, Binary, AdditionalHeaders: null });
  return [
    m('png', 'image/png', true), m('jpg', 'image/jpeg', true), m('jpeg', 'image/jpeg', true), m('gif', 'image/gif', true),
    m('svg', 'image/svg+xml', false), m('ico', 'image/x-icon', true), m('css', 'text/css', false),
    m('js', 'application/javascript', false), m('json', 'application/json', false), m('qext', 'application/json', false),
    m('html', 'text/html', false), m('woff', 'font/woff', true), m('woff2', 'font/woff2', true), m('ttf', 'font/ttf', true),
  ];
}

// Insert the rows of one node: its configuration, one service and settings row per Qlik service, a heartbeat.
// Also what QRS does for POST /qrs/servernodeconfiguration/container (a node added to a running site).
export async function seedNode(c: pg.ClientBase, n: SeedNode, virtualProxyId: string): Promise<string> {
  const node = entity({
    Name: n.name ?? (n.isCentral ? 'Central' : n.hostname), HostName: n.hostname, IsCentral: n.isCentral, NodePurpose: n.nodePurpose ?? 0,
    EngineEnabled: n.engineEnabled ?? true, ProxyEnabled: n.proxyEnabled ?? true, SchedulerEnabled: n.schedulerEnabled ?? true,
    PrintingEnabled: n.printingEnabled ?? true, FailoverCandidate: n.failoverCandidate ?? n.isCentral,
  });
  await insertRows(c, 'ServerNodeConfigurations', [node]);
  for (const svc of ['Repository', 'Engine', 'Proxy', 'Scheduler', 'Printing']) {
    const settings = entity({});
    await insertRows(c, `${svc}ServiceSettings`, [settings]);
    await insertRows(c, `${svc}Services`, [entity({ ServerNodeConfigurationID: node.ID, SettingsID: settings.ID })]);
    if (svc === 'Proxy') {
      await insertRows(c, 'VirtualProxyConfigProxyServiceSettings', [entity({ VirtualProxyConfigID: virtualProxyId, ProxyServiceSettingsID: settings.ID })]);
    }
  }
  await insertRows(c, 'VirtualProxyConfigServerNodeConfigurations', [entity({ VirtualProxyConfigID: virtualProxyId, ServerNodeConfigurationID: node.ID })]);
  await insertRows(c, 'ServerNodeHeartbeats', [entity({ ServerNodeConfigurationID: node.ID, LastHeartbeat: new Date(), ServiceType: 0 })]);
  return node.ID;
}

// Insert the rows of a freshly installed site into QSR (one transaction).
export async function seedSite(cfg: PgConn, o: SeedSiteOptions): Promise<SeededSite> {
  const central = o.nodes.filter((n) => n.isCentral);
  if (central.length !== 1) throw new Error(`a site needs exactly one central node, got ${central.length} (${o.nodes.map((n) => n.hostname).join(', ')})`);
  return withClient({ ...cfg, database: 'QSR' }, (c) =>
    inTransaction(c, async () => {
      await insertRows(c, 'LocalConfigs', [entity({ HostName: central[0].hostname, ProductVersion: o.productVersion ?? null })]);
      const spp = entity({
        RootFolder: o.shareRoot,
        AppFolder: o.appsDir ?? sharePath(o.shareRoot, 'Apps'),
        StaticContentRootFolder: o.staticContentDir ?? sharePath(o.shareRoot, 'StaticContent'),
        ArchivedLogsRootFolder: o.archivedLogsDir ?? sharePath(o.shareRoot, 'ArchivedLogs'),
        Connector64RootFolder: o.connector64Dir ?? CUSTOM_DATA,
        Connector32RootFolder: o.connector32Dir ?? CUSTOM_DATA,
        DatabaseHost: o.dbHost,
        DatabasePort: o.dbPort,
      });
      await insertRows(c, 'ServiceClusterSettingsSharedPersistenceProperties', [spp]);
      // the repository password is stored encrypted by Qlik; the emulator keeps an opaque placeholder
      const creds = entity({ UserName: REPOSITORY_ROLE, Password: 'ENC:emulated' });
      await insertRows(c, 'ServiceClusterSettingsDbCredentials', [creds]);
      const settings = entity({ SharedPersistencePropertiesID: spp.ID, DbCredentialsID: creds.ID });
      await insertRows(c, 'ServiceClusterSettings', [settings]);
      const cluster = entity({ Name: 'ServiceCluster', SettingsID: settings.ID });
      await insertRows(c, 'ServiceClusters', [cluster]);
      const proxy = entity({ Prefix: '', Description: 'Central Proxy (Default)', SessionCookieHeaderName: 'X-Qlik-Session', AuthenticationMethod: 0, DefaultVirtualProxy: true });
      await insertRows(c, 'VirtualProxyConfigs', [proxy]);
      const nodeIds: Record<string, string> = {};
      for (const n of o.nodes) nodeIds[n.hostname] = await seedNode(c, n, proxy.ID as string);
      await insertRows(c, 'UserDirectories', [entity({ Name: 'INTERNAL', UserDirectoryName: 'INTERNAL', Type: 'Repository.UserDirectoryConnectors.InternalUserDirectory' })]);
      const users = INTERNAL_USERS.map((u) => entity({ UserId: u, UserDirectory: 'INTERNAL', Name: u, Roles: '', DeleteProhibited: true }));
      if (o.rootAdmin) users.push(entity({ UserId: o.rootAdmin.userId, UserDirectory: o.rootAdmin.userDirectory, Name: o.rootAdmin.userId, Roles: 'RootAdmin', DeleteProhibited: false }));
      await insertRows(c, 'Users', users);
      await insertRows(c, 'Streams', ['Everyone', 'Monitoring apps'].map((Name) => entity({ Name, OwnerID: users[0].ID })));
      await insertRows(c, 'SystemRules', defaultRules());
      await insertRows(c, 'MimeTypes', mimeTypes());
      return { serviceClusterId: cluster.ID, sharedPersistenceId: spp.ID, nodeIds };
    }),
  );
}
