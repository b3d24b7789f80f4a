// Accounts of an emulated site, as Windows and the domain keep them: a site-wide directory (the domain controller:
// which accounts exist, their password) in <site>/.emulator/directory.json, and per node its local groups, the
// folder ACL entries the guide asks for and each service's Log On account (the service control manager's record) in
// <node>/.emulator/local-security.json. Service start reads the same files (emulator/services/logon.ts), so a Log On
// with a wrong password fails at start with error 1069, as on Windows.
//
// A site made before these files existed has none: its service account and the emulated operator exist and are
// administrators, their passwords unknown (no password check passes until a test or the demo sets one).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { sameAccount, type AccountControl, type AccountInfo } from '../accounts.js';
import { EMULATED_OPERATOR } from './machine.js';
import { readMachineFacts } from '../../emulator/services/install-layout.js';
import { ServiceControlError } from '../service-errors.js';

export interface DirectoryAccount {
  name: string;
  /** Hex salt and sha256(salt + password); absent: the password is not known to the emulator. */
  salt?: string;
  hash?: string;
  /** A domain administrator: a member of every node's Administrators group. */
  domainAdmin?: boolean;
}

interface Directory {
  accounts: Record<string, DirectoryAccount>;
}

export interface ServiceLogonRecord {
  account: string;
  /** The directory salt the password was checked against when it was set, and its hash: a password change makes a new salt. */
  salt?: string;
  hash?: string;
}

export interface LocalSecurity {
  groups: Record<string, string[]>;
  /** Windows path (lower case) → accounts with an explicit Full control entry. */
  fullControl: Record<string, string[]>;
  logons: Record<string, ServiceLogonRecord>;
  /** Executables run in bootstrap mode (proxy.exe, scheduler.exe, repository.exe), with when. */
  bootstrapped?: Record<string, string>;
}

const BUILTIN = new Set(['localsystem', 'local system', 'nt authority\\system', 'nt authority\\networkservice', 'nt authority\\network service', 'nt authority\\localservice']);

/** Built-in accounts: they always exist and have no password. */
export function isBuiltinAccount(account: string): boolean {
  return BUILTIN.has(account.toLowerCase());
}

// The site's folder (site.json's parent), where the site-wide directory lives.
function siteDirOf(site: SiteConfig, node: NodeConfig): string {
  const dir = (site.emulator as { siteDir?: string } | undefined)?.siteDir;
  return dir ?? path.dirname(path.dirname(node.root!));
}

// Read a JSON file, or a default when it does not exist.
function readJson<T>(file: string, fallback: () => T): T {
  if (!fs.existsSync(file)) return fallback();
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

// Write a JSON file atomically (temp file + rename): a killed run never leaves half a file.
function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function hashOf(salt: string, password: string): string {
  return createHash('sha256').update(salt).update('\0').update(password, 'utf8').digest('hex');
}

/** The domain of an emulated site: which accounts exist and their passwords. Tests and the demo create accounts here. */
export class EmulatedDirectory {
  readonly file: string;
  constructor(
    readonly site: SiteConfig,
    siteDir: string,
  ) {
    this.file = path.join(siteDir, '.emulator', 'directory.json');
  }

  static of(site: SiteConfig, node: NodeConfig): EmulatedDirectory {
    return new EmulatedDirectory(site, siteDirOf(site, node));
  }

  private read(): Directory {
    const d = readJson<Directory>(this.file, () => ({ accounts: {} }));
    // the accounts every emulated site was installed with
    for (const name of [this.site.serviceAccount, `${EMULATED_OPERATOR.userDirectory}\\${EMULATED_OPERATOR.userId}`]) {
      d.accounts[name.toLowerCase()] ??= { name, domainAdmin: true };
    }
    return d;
  }

  get(account: string): DirectoryAccount | undefined {
    return this.read().accounts[account.toLowerCase()];
  }

  /** Create an account (or reset it) with a password, as a domain administrator would in Active Directory. */
  create(account: string, password: string, o: { domainAdmin?: boolean } = {}): void {
    const d = this.read();
    const salt = randomBytes(8).toString('hex');
    d.accounts[account.toLowerCase()] = { name: account, salt, hash: hashOf(salt, password), domainAdmin: o.domainAdmin ?? false };
    writeJson(this.file, d);
  }

  /** Change an account's password (the guide's §2.11 C step 1, done in the domain). */
  changePassword(account: string, password: string): void {
    const d = this.read();
    const a = d.accounts[account.toLowerCase()];
    if (!a) throw new Error(`no account ${account} in the emulated directory`);
    a.salt = randomBytes(8).toString('hex');
    a.hash = hashOf(a.salt, password);
    writeJson(this.file, d);
  }

  checkPassword(account: string, password: string): boolean {
    const a = this.get(account);
    if (!a?.salt || !a.hash || !password) return false;
    return timingSafeEqual(Buffer.from(hashOf(a.salt, password), 'hex'), Buffer.from(a.hash, 'hex'));
  }

  /** What a service's Log On record keeps of a password: the hash under the account's current salt. */
  logonRecord(account: string, password: string): ServiceLogonRecord {
    const a = this.get(account);
    return a?.salt ? { account, salt: a.salt, hash: hashOf(a.salt, password) } : { account };
  }

  /** True when the record's password is the account's current one (what the service control manager's logon checks). */
  logonValid(r: ServiceLogonRecord): boolean {
    if (isBuiltinAccount(r.account)) return true;
    const a = this.get(r.account);
    if (!a) return false;
    if (!r.salt && !a.salt) return true; // installed with the account, neither changed since
    return r.salt === a.salt && r.hash === a.hash;
  }
}

/** One node's local security: groups, Full control entries and the services' Log On records. */
export class EmulatedLocalSecurity {
  readonly file: string;
  constructor(
    readonly site: SiteConfig,
    readonly node: NodeConfig,
  ) {
    this.file = path.join(node.root!, '.emulator', 'local-security.json');
  }

  read(): LocalSecurity {
    const s = readJson<LocalSecurity>(this.file, () => ({ groups: {}, fullControl: {}, logons: {} }));
    s.groups.Administrators ??= [this.site.serviceAccount, `${EMULATED_OPERATOR.userDirectory}\\${EMULATED_OPERATOR.userId}`];
    // the installer creates the group (guide §1.3: the account is added to it after install)
    s.groups['Qlik Sense Service Users'] ??= [];
    s.groups['Performance Monitor Users'] ??= [];
    s.fullControl ??= {};
    s.logons ??= {};
    return s;
  }

  write(s: LocalSecurity): void {
    writeJson(this.file, s);
  }

  /** The Log On record of a service: the one set, else the account the installer gave it (machine facts). */
  logon(service: string): ServiceLogonRecord | null {
    const set = this.read().logons[service];
    if (set) return set;
    const row = readMachineFacts(this.node.root!).services.find((r) => r.Name === service);
    return row ? { account: row.StartName } : null;
  }

  isMember(account: string, group: string): boolean {
    return (this.read().groups[group] ?? []).some((m) => sameAccount(m, account, this.computer()));
  }

  computer(): string {
    return this.node.hostname.split('.')[0].toUpperCase();
  }

  markBootstrapped(exe: string): void {
    const s = this.read();
    s.bootstrapped = { ...s.bootstrapped, [exe.toLowerCase()]: new Date().toISOString() };
    this.write(s);
  }

  bootstrapped(exe: string): boolean {
    return !!this.read().bootstrapped?.[exe.toLowerCase()];
  }
}

/** AccountControl of an emulated node. */
export class EmulatedAccounts implements AccountControl {
  private readonly directory: EmulatedDirectory;
  private readonly local: EmulatedLocalSecurity;
  constructor(
    site: SiteConfig,
    private readonly node: NodeConfig,
  ) {
    this.directory = EmulatedDirectory.of(site, node);
    this.local = new EmulatedLocalSecurity(site, node);
  }

  // `.\user` is the node's own COMPUTER\user.
  private canonical(account: string): string {
    return account.replace(/^\.\\/, `${this.local.computer()}\\`);
  }

  async lookup(account: string): Promise<AccountInfo> {
    const name = this.canonical(account);
    const a = isBuiltinAccount(name) ? { name, domainAdmin: true } : this.directory.get(name);
    if (!a) return { account, exists: false, administrator: false, groups: [] };
    const s = this.local.read();
    const groups = Object.keys(s.groups).filter((g) => this.local.isMember(name, g));
    return { account, exists: true, administrator: !!a.domainAdmin || groups.includes('Administrators'), groups };
  }

  async checkPassword(account: string, password: string): Promise<boolean> {
    return this.directory.checkPassword(this.canonical(account), password);
  }

  async addToGroup(account: string, group: string): Promise<void> {
    const name = this.canonical(account);
    if (!this.directory.get(name)) throw new Error(`Add-LocalGroupMember: Principal ${account} was not found.`);
    const s = this.local.read();
    if (!(group in s.groups)) throw new Error(`Add-LocalGroupMember: Group ${group} was not found.`);
    if (!this.local.isMember(name, group)) s.groups[group].push(name);
    this.local.write(s);
  }

  async grantFullControl(windowsPath: string, account: string): Promise<void> {
    const name = this.canonical(account);
    if (!this.directory.get(name)) throw new Error(`Some or all identity references could not be translated: ${account}`);
    const s = this.local.read();
    const key = windowsPath.toLowerCase();
    const list = (s.fullControl[key] ??= []);
    if (!list.some((m) => sameAccount(m, name))) list.push(name);
    this.local.write(s);
  }

  async hasFullControl(windowsPath: string, account: string): Promise<boolean> {
    const name = this.canonical(account);
    return (this.local.read().fullControl[windowsPath.toLowerCase()] ?? []).some((m) => sameAccount(m, name));
  }

  async serviceLogon(service: string): Promise<string | null> {
    return this.local.logon(service)?.account ?? null;
  }

  async setServiceLogon(service: string, account: string, password: string): Promise<void> {
    if (!this.local.logon(service)) throw new ServiceControlError('NOT_INSTALLED', service, `Cannot find any service with service name '${service}' on node ${this.node.name} (Windows error 1060)`);
    const name = this.canonical(account);
    if (!isBuiltinAccount(name) && !this.directory.get(name)) {
      throw new ServiceControlError('INVALID_ACCOUNT', service, `Setting the Log On account of '${service}' on ${this.node.name} failed: the account name is invalid or does not exist, or the password is invalid for the account name specified (Windows error 1057): ${account}`);
    }
    const s = this.local.read();
    s.logons[service] = isBuiltinAccount(name) ? { account: name } : this.directory.logonRecord(name, password);
    this.local.write(s);
  }
}
