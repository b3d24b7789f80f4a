// Reading and checking a site config file (JSON): clear errors name the file and the field.
import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import { isRemoteUrl, parseRepoUrl } from '../backup/repo/store.js';
import type { NodeConfig, SiteConfig } from './model.js';
import { ALL_QLIK_SERVICES, DATABASE_SERVICES, DEFAULT_DB_PORT, QLIK_SERVICES, QRS_UNLOCK_PORT } from './services.js';

/** The largest port offset an emulated node can have: every documented port it moves must stay below 65536. */
export const MAX_PORT_OFFSET = 65535 - Math.max(DEFAULT_DB_PORT, QRS_UNLOCK_PORT, ...QLIK_SERVICES.flatMap((s) => s.ports));

/** Load and validate a site config; relative paths in it are resolved against its folder. */
export function loadSiteConfig(file: string): SiteConfig {
  const abs = path.resolve(file);
  let raw: string;
  try {
    raw = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read site config ${abs}: ${(e as NodeJS.ErrnoException).code ?? e}`, 'pass --site <file> or set QSADMIN_SITE; `qsadmin demo` writes one');
  }
  let site: SiteConfig;
  try {
    site = JSON.parse(raw) as SiteConfig;
  } catch (e) {
    throw new InputError(`site config ${abs} is not valid JSON: ${(e as Error).message}`);
  }
  validateSite(site, abs);
  const base = path.dirname(abs);
  const rel = (p: string | undefined) => (p && !path.isAbsolute(p) && site.driver === 'emulated' ? path.resolve(base, p) : p);
  for (const n of site.nodes) n.root = rel(n.root);
  site.shareRoot = rel(site.shareRoot)!;
  site.database.dataDir = rel(site.database.dataDir);
  return site;
}

/**
 * Throw InputError for the first thing wrong in a site config: a missing or mistyped field, an unknown key (a typo
 * must not silently fall back to a default), or a name that would break a path, a Windows command or a certificate.
 */
export function validateSite(site: SiteConfig, where: string): void {
  const bad = (field: string, why: string) => new InputError(`site config ${where}: ${field} ${why}`, 'fix the site config file (see the README, "Configuration")');
  if (!site || typeof site !== 'object' || Array.isArray(site)) throw bad('(root)', 'must be an object');
  const raw = site as unknown as Record<string, unknown>;
  onlyKeys(raw, SITE_KEYS, '', bad);
  if (typeof site.name !== 'string' || !site.name) throw bad('"name"', 'is missing');
  if (CONTROL.test(site.name) || site.name.length > 100) throw bad('"name"', 'must be a line of text of at most 100 characters (no control characters)');
  if (site.driver !== 'emulated' && site.driver !== 'windows') throw bad('"driver"', 'must be "emulated" or "windows"');
  if (!Array.isArray(site.nodes) || site.nodes.length === 0) throw bad('"nodes"', 'must list at least one node');
  for (const [i, n] of site.nodes.entries()) validateNode(site, n, `nodes[${i}]`, bad);
  const names = site.nodes.map((n) => n.name.toLowerCase());
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw bad('"nodes"', `name the node "${dup}" twice: node names must be unique`);
  const centrals = site.nodes.filter((n) => n.role === 'central');
  if (centrals.length !== 1) throw bad('"nodes"', `must have exactly one node with "role": "central" (found ${centrals.length})`);
  validateDatabase(site, bad);
  if (typeof site.serviceAccount !== 'string' || !site.serviceAccount) throw bad('"serviceAccount"', 'is missing (the Windows account that runs the Qlik services)');
  if (!ACCOUNT.test(site.serviceAccount) || /(^|\\)\.{1,2}$/.test(site.serviceAccount)) {
    throw bad('"serviceAccount"', `${JSON.stringify(site.serviceAccount)} is not a Windows account name: DOMAIN\\user or user, without " / [ ] : ; | = , + * ? < > @`);
  }
  if (typeof site.shareRoot !== 'string' || !site.shareRoot) throw bad('"shareRoot"', 'is missing');
  if (CONTROL.test(site.shareRoot)) throw bad('"shareRoot"', 'holds a control character');
  if (site.alerting !== undefined) validateAlerting(site, bad);
  if (site.repositories !== undefined) validateRepositories(site, bad);
  for (const key of ['emulator', 'defaults'] as const) {
    const v = raw[key];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) throw bad(`"${key}"`, 'must be an object');
  }
}

const SITE_KEYS = ['name', 'driver', 'nodes', 'database', 'serviceAccount', 'shareRoot', 'alerting', 'repositories', 'emulator', 'defaults'];
const REPOSITORY_KEYS = ['name', 'url', 'encrypt', 'passphraseEnv', 'endpoint', 'region', 'pathStyle'];
// Keys that would hold a credential: refused with the variable that supplies it instead.
const CREDENTIAL_KEYS = /key|secret|sas|token|password|credential|connection/i;
const ALERTING_KEYS = ['node', 'installDir', 'mongoBinDir', 'gatewayService'];
const NODE_KEYS = ['name', 'hostname', 'role', 'address', 'root', 'portOffset', 'services', 'reach'];
const REACH_KEYS = ['via', 'computerName', 'port', 'useSsl', 'authentication', 'usernameEnv', 'passwordEnv'];
const DATABASE_KEYS = ['host', 'port', 'service', 'node', 'superuser', 'passwordEnv', 'binDir', 'dataDir'];
// Node names become folder names in a backup set (certs/<node>/, config/<node>/): no separators, no "..".
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
// Repository names become step ids (backup.upload.<name>) and the keys of outputs: the same characters.
const REPOSITORY_NAME = NODE_NAME;
// A DNS hostname (RFC 1123 labels; an internationalised name goes in its xn-- form, as Windows and certificates hold it).
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// A Windows account: characters Windows allows in user and domain names (spaces and a trailing $ included).
const ACCOUNT = /^[^"/[\]:;|=,+*?<>@\u0000-\u001f]{1,104}$/;
// A PostgreSQL role given to the client tools as -U: plain identifier characters only.
const ROLE = /^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;

type Bad = (field: string, why: string) => InputError;

// Refuse a key the site config does not define, naming it and the known ones.
function onlyKeys(obj: Record<string, unknown>, known: string[], prefix: string, bad: Bad): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw bad(`${prefix}"${key}"`, `is not a site config key: known keys here are ${known.join(', ')}`);
  }
}

// One node: name, Qlik hostname, role, address, and for the emulator its root folder.
function validateNode(site: SiteConfig, n: NodeConfig, at: string, bad: Bad): void {
  if (!n || typeof n !== 'object' || Array.isArray(n)) throw bad(at, 'must be an object');
  onlyKeys(n as unknown as Record<string, unknown>, NODE_KEYS, `${at}.`, bad);
  if (typeof n.name !== 'string' || typeof n.hostname !== 'string' || !n.name || !n.hostname) throw bad(at, 'needs "name" and "hostname" (strings)');
  if (!NODE_NAME.test(n.name)) throw bad(`${at}.name`, `${JSON.stringify(n.name)} must be letters, digits, "-" or "_" (it names folders in backup sets)`);
  if (!HOSTNAME.test(n.hostname)) throw bad(`${at}.hostname`, `${JSON.stringify(n.hostname)} is not a DNS hostname (letters, digits, "-" and dots; an international name in its xn-- form)`);
  if (n.role !== 'central' && n.role !== 'rim') throw bad(`${at}.role`, 'must be "central" or "rim"');
  if (typeof n.address !== 'string' || !(HOSTNAME.test(n.address) || isIP(n.address) !== 0)) throw bad(`${at}.address`, 'must be an IP address or a DNS hostname');
  if (n.root !== undefined && (typeof n.root !== 'string' || CONTROL.test(n.root))) throw bad(`${at}.root`, 'must be a folder path (a string)');
  if (site.driver === 'emulated' && !n.root) throw bad(`${at}.root`, 'is required for an emulated node');
  if (n.portOffset !== undefined && !(Number.isInteger(n.portOffset) && n.portOffset >= 0 && n.portOffset <= MAX_PORT_OFFSET)) throw bad(`${at}.portOffset`, `must be an integer from 0 to ${MAX_PORT_OFFSET} (the highest documented port, ${MAX_PORT_OFFSET === 0 ? 0 : 65535 - MAX_PORT_OFFSET}, plus the offset must stay a port)`);
  if (n.reach !== undefined) validateReach(n.reach, `${at}.reach`, bad);
  if (n.services !== undefined) {
    if (!Array.isArray(n.services) || n.services.length === 0) throw bad(`${at}.services`, 'must be a non-empty list of Qlik service names');
    for (const s of n.services) if (!ALL_QLIK_SERVICES.includes(s)) throw bad(`${at}.services`, `names an unknown service ${JSON.stringify(s)}: known services are ${ALL_QLIK_SERVICES.join(', ')}`);
  }
}

// How the Windows driver reaches a node: local, or PowerShell remoting with credentials named, never given.
function validateReach(r: NodeConfig['reach'], at: string, bad: Bad): void {
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw bad(at, 'must be an object such as {"via": "local"} or {"via": "winrm"}');
  onlyKeys(r as unknown as Record<string, unknown>, r.via === 'local' ? ['via'] : REACH_KEYS, `${at}.`, bad);
  if (r.via !== 'local' && r.via !== 'winrm') throw bad(`${at}.via`, 'must be "local" or "winrm"');
  if (r.via === 'local') return;
  if (r.computerName !== undefined && (typeof r.computerName !== 'string' || !(HOSTNAME.test(r.computerName) || isIP(r.computerName) !== 0))) throw bad(`${at}.computerName`, 'must be a DNS hostname or an IP address');
  if (r.port !== undefined && !(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65_535)) throw bad(`${at}.port`, 'must be a TCP port (5985 for HTTP, 5986 for HTTPS)');
  if (r.useSsl !== undefined && typeof r.useSsl !== 'boolean') throw bad(`${at}.useSsl`, 'must be true or false');
  if (r.authentication !== undefined && !['Default', 'Kerberos', 'Negotiate', 'CredSSP'].includes(r.authentication)) throw bad(`${at}.authentication`, 'must be Default, Kerberos, Negotiate or CredSSP');
  for (const key of ['usernameEnv', 'passwordEnv'] as const) {
    const v = r[key];
    if (v !== undefined && (typeof v !== 'string' || !ENV_NAME.test(v))) throw bad(`${at}.${key}`, 'must be the name of an environment variable (letters, digits, "_"), not the value');
  }
  if (!!r.usernameEnv !== !!r.passwordEnv) throw bad(at, 'names "usernameEnv" and "passwordEnv" together, or neither (the current identity)');
}

// The repository database: where it is, which service runs it, and who connects.
function validateDatabase(site: SiteConfig, bad: Bad): void {
  const db = site.database;
  if (!db || typeof db !== 'object' || Array.isArray(db)) throw bad('"database"', 'must be an object with "host" and "port"');
  onlyKeys(db as unknown as Record<string, unknown>, DATABASE_KEYS, 'database.', bad);
  if (typeof db.host !== 'string' || !db.host || !Number.isInteger(db.port)) throw bad('"database"', 'needs "host" (a string) and an integer "port"');
  if (!(HOSTNAME.test(db.host) || isIP(db.host) !== 0)) throw bad('database.host', `${JSON.stringify(db.host)} is not an IP address or a DNS hostname`);
  if (db.port < 1 || db.port > 65_535) throw bad('database.port', `${db.port} is not a TCP port (1-65535)`);
  if (db.service === undefined) throw bad('database.service', `is missing: one of ${Object.keys(DATABASE_SERVICES).join(', ')} or null (a dedicated server)`);
  if (db.service !== null && !(typeof db.service === 'string' && db.service in DATABASE_SERVICES)) {
    throw bad('database.service', `must be one of ${Object.keys(DATABASE_SERVICES).join(', ')} or null (a dedicated server)`);
  }
  if (db.node !== undefined && typeof db.node !== 'string') throw bad('database.node', 'must be a node name (a string)');
  if (db.service !== null && db.node && !site.nodes.some((n) => n.name === db.node)) throw bad('database.node', `names no node of the site`);
  if (typeof db.superuser !== 'string' || !db.superuser) throw bad('database.superuser', 'is missing');
  if (!ROLE.test(db.superuser)) throw bad('database.superuser', `${JSON.stringify(db.superuser)} must be a plain PostgreSQL role name (letters, digits, "_", ".", "-")`);
  if (db.passwordEnv !== undefined && (typeof db.passwordEnv !== 'string' || !ENV_NAME.test(db.passwordEnv))) {
    throw bad('database.passwordEnv', 'must be the name of an environment variable (letters, digits, "_"), not the password');
  }
  for (const key of ['binDir', 'dataDir'] as const) {
    const v = db[key];
    if (v !== undefined && (typeof v !== 'string' || CONTROL.test(v))) throw bad(`database.${key}`, 'must be a folder path (a string)');
  }
}

// Qlik Alerting: the node it runs on, its folders as Windows paths, and its Gateway's service name.
function validateAlerting(site: SiteConfig, bad: Bad): void {
  const a = site.alerting;
  if (!a || typeof a !== 'object' || Array.isArray(a)) throw bad('"alerting"', 'must be an object such as {"node": "central"}');
  onlyKeys(a as unknown as Record<string, unknown>, ALERTING_KEYS, 'alerting.', bad);
  if (typeof a.node !== 'string' || !site.nodes.some((n) => n.name === a.node)) {
    throw bad('alerting.node', `must name the node Qlik Alerting runs on, one of: ${site.nodes.map((n) => n.name).join(', ')}`);
  }
  for (const key of ['installDir', 'mongoBinDir'] as const) {
    const v = a[key];
    if (v !== undefined && (typeof v !== 'string' || !/^[A-Za-z]:\\/.test(v) || CONTROL.test(v))) throw bad(`alerting.${key}`, 'must be an absolute Windows folder path such as C:\\Program Files\\Qlik Alerting');
  }
  if (a.gatewayService !== undefined && (typeof a.gatewayService !== 'string' || !/^[A-Za-z0-9_.\- ]{1,256}$/.test(a.gatewayService))) {
    throw bad('alerting.gatewayService', 'must be a Windows service name (letters, digits, space, "_", "-", ".")');
  }
}

// Backup repositories: unique names, URLs that parse (the rules of --to), S3 settings only for s3://, no credentials.
function validateRepositories(site: SiteConfig, bad: Bad): void {
  const list = site.repositories;
  if (!Array.isArray(list)) throw bad('"repositories"', 'must be a list such as [{"name": "offsite", "url": "s3://bucket/prefix"}]');
  const seen = new Set<string>();
  for (const [i, r] of list.entries()) {
    const at = `repositories[${i}]`;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw bad(at, 'must be an object with "name" and "url"');
    for (const key of Object.keys(r)) {
      if (!REPOSITORY_KEYS.includes(key) && CREDENTIAL_KEYS.test(key)) {
        throw bad(`${at}."${key}"`, 'looks like a credential: the site file never holds one (it is readable by everyone); set AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or use the SDK\'s default chain) in the environment of the backup');
      }
    }
    onlyKeys(r as unknown as Record<string, unknown>, REPOSITORY_KEYS, `${at}.`, bad);
    if (typeof r.name !== 'string' || !REPOSITORY_NAME.test(r.name)) throw bad(`${at}.name`, `${JSON.stringify(r.name)} must be letters, digits, "-" or "_" (it names the repository's upload step)`);
    if (seen.has(r.name.toLowerCase())) throw bad(`${at}.name`, `"${r.name}" is used twice: repository names must be unique`);
    seen.add(r.name.toLowerCase());
    if (typeof r.url !== 'string' || !r.url || CONTROL.test(r.url)) throw bad(`${at}.url`, 'must be a folder path, azure://<account>/<container>/<prefix> or s3://<bucket>/<prefix>');
    const remote = isRemoteUrl(r.url);
    if (!remote && !(path.isAbsolute(r.url) || /^[A-Za-z]:\\|^\\\\/.test(r.url))) throw bad(`${at}.url`, `${JSON.stringify(r.url)} must be an absolute folder path (or a UNC path), azure://… or s3://…`);
    try {
      parseRepoUrl(r.url);
    } catch (e) {
      throw bad(`${at}.url`, `${(e as Error).message}${e instanceof InputError && e.hint ? ` (${e.hint})` : ''}`);
    }
    if (r.encrypt !== undefined && typeof r.encrypt !== 'boolean') throw bad(`${at}.encrypt`, 'must be true or false');
    if (r.passphraseEnv !== undefined && (typeof r.passphraseEnv !== 'string' || !ENV_NAME.test(r.passphraseEnv))) throw bad(`${at}.passphraseEnv`, 'must be the name of an environment variable (letters, digits, "_"), not the passphrase');
    const s3Only = (['endpoint', 'region', 'pathStyle'] as const).filter((k) => r[k] !== undefined);
    if (s3Only.length && !/^s3:\/\//i.test(r.url)) throw bad(`${at}.${s3Only[0]}`, 'applies to s3:// repositories only');
    if (r.endpoint !== undefined && (typeof r.endpoint !== 'string' || !/^https?:\/\/[^\s/@]+(\/[^\s@]*)?$/.test(r.endpoint))) throw bad(`${at}.endpoint`, 'must be an http(s) URL without credentials, e.g. https://s3.eu-central-1.example.com');
    if (r.region !== undefined && (typeof r.region !== 'string' || !/^[a-z0-9-]{1,40}$/.test(r.region))) throw bad(`${at}.region`, 'must be a region name such as eu-central-1');
    if (r.pathStyle !== undefined && typeof r.pathStyle !== 'boolean') throw bad(`${at}.pathStyle`, 'must be true or false');
  }
}
