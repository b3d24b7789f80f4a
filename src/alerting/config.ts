// Qlik Alerting's own configuration: its folders, config\default.json (gateway ports, MongoDB connection) and the
// defaults the seed (shared/seeds/000-qlik-alerting-admin.txt) documents.
import type { Host } from '../host/types.js';
import { InputError } from '../runbook/errors.js';
import type { AlertingConfig, SiteConfig } from '../site/model.js';

export const DEFAULT_INSTALL_DIR = 'C:\\Program Files\\Qlik Alerting'; // seed l.222
export const DEFAULT_MONGO_BIN = 'C:\\Program Files\\MongoDB\\Server\\4.2\\bin'; // seed l.312
// The seed names the service only by its display name "Qlik Alerting Gateway"; its key name is an assumption.
export const DEFAULT_GATEWAY_SERVICE = 'QlikAlertingGateway';
export const GATEWAY_DISPLAY = 'Qlik Alerting Gateway';
export const ALERTING_DB = 'qlikalerting'; // seed l.316: mongodump --db=qlikalerting
export const DEFAULT_MONGO_PORT = 27017; // MongoDB's default (not from the seed)

export interface AlertingPaths {
  installDir: string;
  configDir: string;
  defaultJson: string;
  certificatesDir: string;
  mongoBinDir: string;
  gatewayService: string;
}

/**
 * Read default.json on the Alerting node. Its MongoDB password joins the run's secrets (the runbook's redactor), so that
 * no log, journal line or --json output shows it, though it was read after the runbook was built.
 */
export async function readAlertingSettings(host: Host, file: string, secrets?: { add(secret: string): void }): Promise<AlertingSettings> {
  const settings = parseDefaultJson((await host.files.read(file)).toString('utf8'), file);
  const pw = settings.mongo.password;
  // a password of one or two characters cannot be redacted without mangling every other line
  if (secrets && pw && pw.length >= 3) secrets.add(pw);
  return settings;
}

/** The site's Alerting part, or a clear error when the site has none. */
export function alertingOf(site: SiteConfig): AlertingConfig {
  if (!site.alerting) throw new InputError(`site ${site.name} has no "alerting" part`, 'add "alerting": {"node": "<node that runs Qlik Alerting>"} to the site config (see the README, "Qlik Alerting")');
  return site.alerting;
}

/** Where Alerting's files are on its node (Windows paths). */
export function alertingPaths(a: AlertingConfig): AlertingPaths {
  const installDir = a.installDir ?? DEFAULT_INSTALL_DIR;
  const configDir = `${installDir}\\config`;
  return {
    installDir,
    configDir,
    defaultJson: `${configDir}\\default.json`,
    certificatesDir: `${configDir}\\certificates`,
    mongoBinDir: a.mongoBinDir ?? DEFAULT_MONGO_BIN,
    gatewayService: a.gatewayService ?? DEFAULT_GATEWAY_SERVICE,
  };
}

export interface GatewayConfig {
  ip: string;
  httpPort: number;
  httpsPort: number;
  https: boolean;
}

/** How the MongoDB tools reach Alerting's database: host and port in argv, the password only in a --config file. */
export interface MongoConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  authSource?: string;
}

export interface AlertingSettings {
  gateway: GatewayConfig;
  /** http is allowed (allowInsecure.http, seed l.262-283). */
  allowHttp: boolean;
  mongo: MongoConnection;
}

/**
 * Parse default.json. The gateway object is the seed's (l.222-233, 285-301). The seed says an external MongoDB
 * connection "may" be configured there without naming its key: we read `mongodb.uri` (a MongoDB connection string),
 * an assumption; without it, MongoDB's default localhost:27017 without authentication.
 */
export function parseDefaultJson(text: string, where: string): AlertingSettings {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${where} is not valid JSON: ${(e as Error).message}`, 'fix the file (a backup of it is in every qsadmin backup set with Alerting)');
  }
  const g = raw.gateway as Partial<GatewayConfig> | undefined;
  if (!g || typeof g !== 'object') throw new InputError(`${where} has no "gateway" object`, 'the Gateway reads its ip, httpPort, httpsPort and https from it (seed: "Changing the ports")');
  const port = (v: unknown, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) throw new InputError(`${where}: gateway.${name} ${JSON.stringify(v)} is not a TCP port`);
    return v as number;
  };
  const gateway: GatewayConfig = {
    ip: typeof g.ip === 'string' ? g.ip : 'localhost',
    httpPort: port(g.httpPort, 'httpPort', 4551),
    httpsPort: port(g.httpsPort, 'httpsPort', 4552),
    https: g.https !== false,
  };
  const insecure = raw.allowInsecure as { http?: boolean } | undefined;
  const m = raw.mongodb as { uri?: unknown } | undefined;
  const mongo = m?.uri !== undefined ? parseMongoUri(String(m.uri), where) : { host: 'localhost', port: DEFAULT_MONGO_PORT };
  return { gateway, allowHttp: insecure?.http !== false, mongo };
}

/** A mongodb:// connection string: one host, optional user:password, authSource. */
export function parseMongoUri(uri: string, where: string): MongoConnection {
  const m = /^mongodb:\/\/(?:([^:@/]+)(?::([^@/]*))?@)?([^:/?,]+)(?::(\d+))?(?:\/([^?]*))?(?:\?(.*))?$/.exec(uri);
  if (!m) throw new InputError(`${where}: mongodb.uri is not a single-host mongodb:// connection string`, 'qsadmin reads mongodb://[user:password@]host[:port][/?authSource=db]');
  const params = new URLSearchParams(m[6] ?? '');
  return {
    host: m[3],
    port: m[4] ? Number(m[4]) : DEFAULT_MONGO_PORT,
    username: m[1] ? decodeURIComponent(m[1]) : undefined,
    password: m[2] !== undefined ? decodeURIComponent(m[2]) : undefined,
    authSource: params.get('authSource') ?? (m[1] ? 'admin' : undefined),
  };
}
