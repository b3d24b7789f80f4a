// What the emulated Qlik_Sense_setup.exe and Qlik_Sense_update.exe share: the exit with a §8.11 code, the Burn-style
// log, the node they run on, the machine checks every run makes first, the release the setup file carries and the
// record of the original install (who installed, which release first) that upgrades and patches are checked against.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import { EmulatedServiceControl } from '../../host/emulated/services.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { ALL_QLIK_SERVICES, startOrder } from '../../site/services.js';
import { SITE_ENV } from '../services/spawn.js';
import type { SetupCommandLine } from './args.js';
export { readProducts, writeProducts } from './products.js';

const MIN_FREE_BYTES = 5 * 1024 ** 3; // guide §1: 5 GB of free disk space
const DOTNET_48 = 528040; // NDP\v4\Full Release of .NET Framework 4.8
const MIN_BUILD = 14393; // Windows Server 2016

export class SetupExit extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly pkg?: string,
  ) {
    super(message);
  }
}

/** A Burn-style log: one line per event, flushed as written (a killed setup leaves what it did). */
export class SetupLog {
  constructor(private readonly file: string | null) {
    if (file) fs.mkdirSync(path.dirname(file), { recursive: true });
  }

  private line(kind: 'i' | 'w' | 'e', text: string): void {
    const stamp = new Date().toISOString().replace('Z', '');
    const row = `[${process.pid.toString(16).toUpperCase().padStart(4, '0')}:0001][${stamp}]${kind}000: ${text}\r\n`;
    if (this.file) fs.appendFileSync(this.file, row);
    if (kind !== 'i') process.stderr.write(row);
  }

  info(text: string): void {
    this.line('i', text);
  }
  warn(text: string): void {
    this.line('w', text);
  }
  error(text: string): void {
    this.line('e', text);
  }
}

export interface NodeEnv {
  site: SiteConfig;
  node: NodeConfig;
  root: string;
}

// The node this setup runs on, from the environment the emulated host sets.
export function nodeFromEnv(): NodeEnv {
  const raw = process.env[SITE_ENV];
  const name = process.env.QSADMIN_EMULATOR_NODE;
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  if (!raw || !name || !root) throw new SetupExit(-1, 'Qlik_Sense_setup.exe (emulated) must be run on an emulated node, through its host');
  const site = JSON.parse(raw) as SiteConfig;
  const node = site.nodes.find((n) => n.name === name);
  if (!node) throw new SetupExit(-1, `node ${name} is not in the site`);
  return { site, node, root };
}

// A path as this node opens it: a Windows drive path maps into the node folder; a UNC or local path stays.
export function onNode(root: string, p: string): string {
  return /^[A-Za-z]:[\\/]/.test(p) ? windowsToEmulated(root, p) : p;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The machine checks every install makes first (requirements, elevation, reboot).
export async function machineChecks(machine: EmulatedMachine, log: SetupLog, opts: { installDotnet?: () => Promise<void> } = {}): Promise<void> {
  const me = await machine.identity();
  if (!me.elevated) throw new SetupExit(-1602, `${me.user} is not elevated: setup asks for elevation (UAC), which nobody answers in a silent run`);
  const reboot = await machine.rebootPending();
  if (reboot.length) throw new SetupExit(-8, `a reboot is pending (${reboot.join('; ')}): restart the machine first`);
  const inv = await machine.inventory();
  log.info(`Detected OS: ${inv.os.caption} ${inv.os.version}; .NET release ${inv.dotnetRelease ?? 'none'}; ${(inv.freeBytes / 1024 ** 3).toFixed(1)} GB free`);
  if (inv.os.build < MIN_BUILD) throw new SetupExit(-20, `${inv.os.caption} (build ${inv.os.build}) is too old: Windows Server 2016 or later is required`);
  // An upgrade installs .NET 4.8 itself, then the machine must restart and setup run again (guide §4.2 step 4).
  if ((inv.dotnetRelease === null || inv.dotnetRelease < DOTNET_48) && opts.installDotnet) await opts.installDotnet();
  if (inv.dotnetRelease === null || inv.dotnetRelease < DOTNET_48) throw new SetupExit(-6, `.NET Framework 4.8 is required (found release ${inv.dotnetRelease ?? 'none'}); a silent install cannot install it: install .NET 4.8, restart, run setup again`, 'NetFx48');
  if (inv.freeBytes < MIN_FREE_BYTES) throw new SetupExit(-1601, `not enough disk space: ${(inv.freeBytes / 1024 ** 3).toFixed(1)} GB free, 5 GB needed`);
}


// The service account and its password (userwithdomain, userpassword), unless skipvalidation=1.
export async function validateUser(machine: EmulatedMachine, args: SetupCommandLine, log: SetupLog): Promise<string> {
  const user = args.values.userwithdomain;
  if (!user) throw new SetupExit(-13, 'userwithdomain is required: the account that runs the Qlik Sense services');
  if (args.values.skipvalidation === '1') {
    log.warn('skipvalidation=1: the service account, the share and the database are not checked');
    return user;
  }
  const check = await machine.account(user, args.values.userpassword ?? '');
  if (!check.exists) throw new SetupExit(-13, `the account ${user} does not exist`);
  if (!args.values.userpassword || check.password === 'wrong') throw new SetupExit(-13, `the password of ${user} is wrong or blank`);
  log.info(`User validation succeeded for ${user}${check.admin ? '' : ' (not an administrator: the services will not be started)'}`);
  return user;
}


// Start the services as the installer does at the end: database, QSD, QRS, then the others.
export async function startServices(site: SiteConfig, node: NodeConfig, superPassword: string, log: SetupLog): Promise<void> {
  const control = new EmulatedServiceControl(site, node, () => superPassword);
  if (site.database.service && site.database.node === node.name) await control.start(site.database.service);
  for (const tier of startOrder(node.services ?? ALL_QLIK_SERVICES)) {
    await Promise.all(tier.map((s) => control.start(s)));
    log.info(`Started ${tier.join(', ')}`);
  }
}


/** The environment variable through which an emulated setup or update file says what it is (its file version). */
export const SETUP_RELEASE_ENV = 'QSADMIN_EMULATOR_SETUP_RELEASE';

/** What a setup file installs, or what a patch file updates ("Patch 3" of a release). */
export interface SetupFileRelease {
  name: string;
  version: string;
  patch?: number;
}

/** The release this setup (or update) file carries; a file without one is Qlik Sense May 2025 (the emulator's default). */
export function setupFileRelease(): SetupFileRelease {
  const raw = process.env[SETUP_RELEASE_ENV];
  if (!raw) return { name: 'May 2025', version: '14.222.5' };
  return JSON.parse(raw) as SetupFileRelease;
}

/** The record of the original install (the installer's own registry values on Windows; a file here). */
export interface InstallRecord {
  /** The account that ran the original install: upgrades and patches must run as it (guide §3.3, §3.7). */
  installedBy: string;
  /** The release first installed (the root certificate rule of §4.2 depends on it). */
  firstRelease: string;
  installDir: string;
}

const RECORD_FILE = 'qlik-install.json';

export function readInstallRecord(root: string): InstallRecord | null {
  const file = path.join(root, '.emulator', RECORD_FILE);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as InstallRecord) : null;
}

export function writeInstallRecord(root: string, r: InstallRecord | null): void {
  const file = path.join(root, '.emulator', RECORD_FILE);
  if (r) fs.writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  else fs.rmSync(file, { force: true });
}

/** Every run of setup or update must be by the account of the original install (else the node's certificates are not found). */
export async function requireOriginalAccount(machine: EmulatedMachine, root: string): Promise<InstallRecord> {
  const rec = readInstallRecord(root);
  if (!rec) throw new SetupExit(-9, 'Qlik Sense is not installed on this machine (no record of an install)');
  const me = (await machine.identity()).user;
  // EMULATOR ASSUMPTION: -16 (host name from certificate retrieval error): the guide says only that another account
  // "will not find the certificates on the node" (§3.3, §3.7).
  if (me.toLowerCase() !== rec.installedBy.toLowerCase()) throw new SetupExit(-16, `${me} is not the account that installed Qlik Sense on this node (${rec.installedBy}): the node's certificates cannot be found; log on as ${rec.installedBy}`);
  return rec;
}

/** The Qlik services of this node that still run (setup needs them stopped: guide §3.4 step 1, §3.7 step 1). */
export async function runningQlikServices(site: SiteConfig, node: NodeConfig): Promise<string[]> {
  const control = new EmulatedServiceControl(site, node, () => '');
  const out: string[] = [];
  for (const s of node.services ?? ALL_QLIK_SERVICES) if ((await control.status(s)).state !== 'stopped') out.push(s);
  return out;
}

/** Write the full (signed) exit code beside the log and exit: POSIX keeps 8 bits, Windows reports 32 (see EmulatedHost.exec). */
export function exitWith(code: number): never {
  const file = process.env.QSADMIN_EMULATOR_EXIT_FILE;
  if (file) fs.writeFileSync(file, String(code >>> 0));
  process.exit(code === 0 ? 0 : 1);
}
