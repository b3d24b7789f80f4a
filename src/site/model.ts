// The site model: nodes, roles, database, share and service account, as read from a site config file.
import { InputError } from '../runbook/errors.js';
import type { DatabaseServiceName, QlikServiceName } from './services.js';

export type NodeRole = 'central' | 'rim';

export interface NodeConfig {
  /** Node name as the operator calls it (e.g. "central", "rim1"). */
  name: string;
  /** The node's Qlik hostname (Host.cfg, ServerNodeConfigurations.HostName, certificate subject). */
  hostname: string;
  role: NodeRole;
  /** Address the node's services listen on (emulated: 127.0.0.x; Windows: the hostname). */
  address: string;
  /** Emulated only: the directory that mirrors the Windows machine (Program Files, ProgramData, Users). */
  root?: string;
  /** Added to every documented port (emulator only: several sites on one machine). */
  portOffset?: number;
  /** Qlik services installed on the node; default all. */
  services?: QlikServiceName[];
  /** Windows driver: how qsadmin reaches the node (default: local when it is this machine, else WinRM). */
  reach?: NodeReach;
}

/** PowerShell remoting (WinRM) to a node: New-PSSession with the current identity, or a credential from the environment. */
export interface WinrmReach {
  via: 'winrm';
  /** The computer name for New-PSSession (default: the node's hostname). */
  computerName?: string;
  port?: number;
  useSsl?: boolean;
  authentication?: 'Default' | 'Kerberos' | 'Negotiate' | 'CredSSP';
  /** Environment variables holding the user name and password (never the values themselves). */
  usernameEnv?: string;
  passwordEnv?: string;
}

export type NodeReach = { via: 'local' } | WinrmReach;

export interface DatabaseConfig {
  /** Host of the repository database: never assumed to be localhost. */
  host: string;
  port: number;
  /** Windows service of the database, or null when it runs on a dedicated server we do not control. */
  service: DatabaseServiceName | null;
  /** Node that runs the database service (when service is not null). */
  node?: string;
  superuser: string;
  /** Environment variable holding the superuser password (never the password itself). */
  passwordEnv?: string;
  /** Folder with the server's own client tools (pg_dump, pg_restore, psql); discovered when absent. */
  binDir?: string;
  /** Emulated only: data directory of the cluster. */
  dataDir?: string;
}

/**
 * Qlik Alerting installed beside the site (seed 000). Its MongoDB connection is read from default.json on that node,
 * never configured here as well.
 */
export interface AlertingConfig {
  /** The site node that runs Qlik Alerting and its MongoDB (MongoDB listens on localhost by default). */
  node: string;
  /** Install folder (default C:\Program Files\Qlik Alerting): config\default.json and config\certificates. */
  installDir?: string;
  /** MongoDB's bin folder with mongodump/mongorestore/mongoexport (default C:\Program Files\MongoDB\Server\4.2\bin, seed l.312). */
  mongoBinDir?: string;
  /** Windows service name of the Qlik Alerting Gateway (the seed gives only its display name; default QlikAlertingGateway). */
  gatewayService?: string;
}

export interface SiteConfig {
  name: string;
  driver: 'emulated' | 'windows';
  nodes: NodeConfig[];
  database: DatabaseConfig;
  /** Windows account that runs the Qlik services (certificates live in its CurrentUser stores). */
  serviceAccount: string;
  /** Share root as the site knows it (emulated: a local folder). Sub-folders are read from QSR. */
  shareRoot: string;
  /** Qlik Alerting beside the site (optional): backed up with the site, restored with --only alerting. */
  alerting?: AlertingConfig;
  /** Backup repositories (`backup create --to <name>`, `--to-all`): where sets go off-site. No credentials. */
  repositories?: RepositoryConfig[];
  /** Emulator options (fault injection, assumptions); ignored by the windows driver. */
  emulator?: Record<string, unknown>;
  /** Defaults for common flags, e.g. { "stateDir": "...", "verbose": true }. */
  defaults?: Record<string, unknown>;
}

/**
 * A backup repository the site config names: a folder, azure://<account>/<container>/<prefix> or s3://<bucket>/<prefix>.
 * Credentials never appear here: they come from the environment or the SDK's own chain (README, "Repositories").
 */
export interface RepositoryConfig {
  /** What --to <name> and the step ids call it: letters, digits, "-", "_". */
  name: string;
  url: string;
  /** Default: true for azure:// and s3://, false for a folder. */
  encrypt?: boolean;
  /** The environment variable with this repository's passphrase (default QSADMIN_REPO_PASSPHRASE). */
  passphraseEnv?: string;
  /** S3-compatible stores only: endpoint URL, region, path-style addressing. */
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
}

export function centralNode(site: SiteConfig): NodeConfig {
  const c = site.nodes.find((n) => n.role === 'central');
  if (!c) throw new Error(`site ${site.name} has no central node: set one node's "role" to "central" in the site config`);
  return c;
}

export function rimNodes(site: SiteConfig): NodeConfig[] {
  return site.nodes.filter((n) => n.role === 'rim');
}

export function findNode(site: SiteConfig, name: string): NodeConfig {
  const n = site.nodes.find((x) => x.name === name || x.hostname === name);
  if (!n) {
    throw new InputError(
      `no node "${name}" in site ${site.name}`,
      `--node takes a node name or hostname: ${site.nodes.map((x) => `${x.name} (${x.hostname})`).join(', ')}`,
    );
  }
  return n;
}
