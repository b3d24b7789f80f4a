// The Host driver interface: everything a runbook does to a node goes through it (DESIGN.md "Host drivers").
import type { Readable } from 'node:stream';
import type { ServiceName } from '../site/services.js';
import type { PrivateFiles } from './private-files.js';
import type { ListedFile } from '../backup/tree.js';
import type { AccountControl } from './accounts.js';

export type ServiceState = 'running' | 'stopped' | 'start_pending' | 'stop_pending' | 'absent';

export interface ServiceStatus {
  name: ServiceName;
  state: ServiceState;
  pid?: number;
}

export interface StopOptions {
  timeoutMs?: number;
  /** Opt-in: end the process of a Qlik service stuck in StopPending (administrators do it by hand; not in the guide). */
  endStuckProcess?: boolean;
}

export interface StopOutcome {
  /** The pid of a stuck service's process that was ended. */
  endedProcess?: number;
}

export interface ServiceControl {
  /** Every Qlik service (and the database service, if this node runs it) with its state. */
  list(): Promise<ServiceStatus[]>;
  status(name: ServiceName): Promise<ServiceStatus>;
  /** Start one service; fails like Windows does when a dependency is not running. */
  start(name: ServiceName, opts?: { timeoutMs?: number }): Promise<void>;
  /**
   * Stop one service; fails with a timeout error when it does not stop in time. With `endStuckProcess`, a Qlik
   * service still StopPending at the timeout has its process ended instead (never a database service); the result
   * names the process so that the caller logs it.
   */
  stop(name: ServiceName, opts?: StopOptions): Promise<StopOutcome | void>;
  /** QRS state from http://<node>:4444/status/servicestate: 0 initializing, 1 certificates not installed, 2 running; null when unreachable. */
  repositoryState(): Promise<number | null>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  /** Extra environment (secrets go here, never in args). */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  /**
   * The arguments are already quoted for the program's own command-line parser and are joined with spaces as they
   * are (msiexec reads PROPERTY="value with spaces" itself, not by CommandLineToArgvW's rules). Windows only.
   */
  verbatim?: boolean;
}

export interface FileInfo {
  path: string;
  size: number;
  mtimeMs: number;
  isDirectory: boolean;
}

/** Files of a node; the private writer (PrivateFiles) is for what holds a key, a dump or a password. */
export interface HostFiles extends PrivateFiles {
  /** Map a Windows path of this node (e.g. C:\ProgramData\Qlik\Sense\Host.cfg) to one we can open. */
  resolve(windowsPath: string): string;
  exists(path: string): Promise<boolean>;
  read(path: string): Promise<Buffer>;
  write(path: string, data: Buffer | string, opts?: { mode?: number }): Promise<void>;
  remove(path: string): Promise<void>;
  /** Recursive listing of files (not directories) under a folder. */
  walk(dir: string): AsyncIterable<FileInfo>;
  createReadStream(path: string): Readable;
}

export type StoreLocation = 'LocalMachine' | 'CurrentUser';
export type StoreName = 'My' | 'Root';

export interface StoreRef {
  location: StoreLocation;
  name: StoreName;
  /** For CurrentUser stores: the account (the Qlik service account). */
  user?: string;
}

export interface StoredCert {
  store: StoreRef;
  thumbprint: string; // upper-case hex SHA-1, as Windows shows it
  subject: string; // CN
  issuer: string; // CN
  notBefore: Date;
  notAfter: Date;
  hasPrivateKey: boolean;
  /** Value of the Qlik extension 1.3.6.1.5.5.7.13.3 ("Client", "Server", "Root"), null when absent. */
  qlikExtension: string | null;
  /** DER of the certificate. */
  der: Buffer;
}

export interface CertStore {
  list(store: StoreRef): Promise<StoredCert[]>;
  /** Export with its private key and extended properties as a password-protected PFX (as the store's user). */
  exportPfx(store: StoreRef, thumbprint: string, password: string): Promise<Buffer>;
  /** Import a PFX into a store, key marked exportable, service account granted access to the key. */
  importPfx(store: StoreRef, pfx: Buffer, password: string): Promise<StoredCert>;
  remove(store: StoreRef, thumbprint: string): Promise<void>;
  /** Why qsadmin cannot open a store here (not elevated, not the service account and no password), or null. */
  reachable(store: StoreRef): Promise<string | null>;
}

/** Windows locations of one node, in Windows form; resolve them with HostFiles.resolve. */
export interface SitePaths {
  programFiles: string; // C:\Program Files
  qlikInstallDir: string; // C:\Program Files\Qlik\Sense
  qlikProgramData: string; // C:\ProgramData\Qlik\Sense
  hostCfg: string;
  exportedCertificates: string;
  localCertificates: string; // ...\Exported Certificates\.Local Certificates
  logDir: string;
  customData: string; // C:\Program Files\Common Files\Qlik\Custom Data
  repositoryExe: string;
  configFiles: string[]; // Repository.exe.config, Proxy.exe.config, Scheduler.exe.config, services.conf, Settings.ini
}

/** How a share folder is captured while the services are down (the plan names the choice). */
export type ShareCaptureMode = 'hardlink' | 'vss' | 'copy-while-down';

export interface ShareCapturePlan {
  mode: ShareCaptureMode;
  /** Why this mode: the plan prints it. */
  reason: string;
}

/** A point-in-time view of a share folder, readable after the services start again. */
export interface ShareView {
  /** The live folder (as QSR names it). */
  source: string;
  /** A folder node:fs opens that holds the folder's content as it was at capture. */
  dir: string;
  captureId: string;
  /** The base set whose unchanged files the view left out (hard links), null for a full view. */
  baseId: string | null;
  /** The files at capture time, when the view made the listing (hard links); else the copy lists `dir`. */
  listing?: ListedFile[];
  /** A Volume Shadow Copy's id: the run records it in its outputs, so that nothing can forget to delete it. */
  shadowId?: string;
  /** One line for the log. */
  summary: string;
}

/**
 * Share capture on the machine qsadmin runs on: a hard-link tree (emulator, same filesystem), a Volume Shadow Copy
 * (Windows, a local NTFS/ReFS volume), or neither (the caller copies while the services are down).
 */
export interface ShareCapture {
  plan(folder: string): Promise<ShareCapturePlan>;
  /** Take the view (the services are down). `unchanged` files may be left out: the base set already holds them. */
  take(folder: string, o: { runId: string; captureId: string; baseId: string | null; unchanged?: (f: ListedFile) => boolean }): Promise<ShareView>;
  /** The view this run took for this capture, if it is still complete. */
  find(folder: string, runId: string, captureId: string): Promise<ShareView | null>;
  /** Drop this run's view (the live folder is untouched); dropping twice is fine. */
  release(folder: string, runId: string): Promise<void>;
  /** Drop the views that other (killed) runs left of this folder; the caller holds the site lock. */
  reap(folder: string, keepRunId: string): Promise<string[]>;
}

export interface Identity {
  /** DOMAIN\user as Windows names the account qsadmin runs as. */
  user: string;
  /** An administrator token (UAC elevation). */
  elevated: boolean;
  computer: string;
}

/** A Windows service installed on the machine, as Win32_Service shows it. */
export interface InstalledService {
  name: string;
  /** The logon account (StartName). */
  account?: string;
  /** The command line (PathName). */
  commandLine?: string;
}

/** A product in the machine's list of installed programs (the Uninstall registry keys: DisplayName, DisplayVersion). */
export interface InstalledProduct {
  name: string;
  version: string;
}

/** What an install needs of a machine (guide §1 "System requirements"), as `qsadmin preflight` reads it. */
export interface MachineInventory {
  os: { caption: string; version: string; build: number };
  /** The CPU supports AVX (the engine needs it). */
  avx: boolean;
  memoryBytes: number;
  /** Free bytes on the volume of the install folder (C:). */
  freeBytes: number;
  /** .NET Framework 4 release (NDP\v4\Full Release: 528040 and up is 4.8), null when .NET 4 is absent. */
  dotnetRelease: number | null;
  powershellVersion: string;
  /** The effective execution policy (Get-ExecutionPolicy). */
  executionPolicy: string;
  /** The machine's clock when asked (ms since the epoch). */
  clockMs: number;
  /** The caller's local account has a blank password (true/false), or null when Windows cannot tell (domain accounts). */
  blankPassword: boolean | null;
}

/** A Windows account, as the machine knows it; `password` tells whether a given password is the account's. */
export interface AccountCheck {
  exists: boolean;
  /** Member of the local Administrators group. */
  admin: boolean;
  password?: 'valid' | 'wrong' | 'unchecked';
}

/** The machine state that runbooks and preflights check before they start, and that `site init` reads. */
export interface MachineState {
  /** OS, CPU, memory, disk, .NET, PowerShell and clock (preflight, install). */
  inventory(): Promise<MachineInventory>;
  /** Which of these TCP ports something already listens on here. */
  portsInUse(ports: number[]): Promise<number[]>;
  /** The addresses a hostname resolves to on this node, and whether one of them is this node's own. */
  resolve(hostname: string): Promise<{ addresses: string[]; local: boolean }>;
  /** Whether this node reaches host:port over TCP (a check run on the node itself). */
  canConnect(host: string, port: number, timeoutMs?: number): Promise<boolean>;
  /** Whether an account exists and is an administrator; with a password, whether it is the right one. */
  account(name: string, password?: string): Promise<AccountCheck>;
  /**
   * POST a form to http://localhost:<port><path> on the node itself (QRS's certificate unlock port 4570 answers only
   * localhost); field values are secrets: they travel in the request body only.
   */
  postLocalForm(port: number, urlPath: string, fields: Record<string, string>): Promise<{ status: number; body: string }>;
  identity(): Promise<Identity>;
  /** Why the machine waits for a reboot (the registry keys administrators check); empty when it does not. */
  rebootPending(): Promise<string[]>;
  /** Which Qlik and repository database services are installed here (whatever the site config says). */
  installedServices(): Promise<InstalledService[]>;
  /** The address the node's services answer on, for a hostname of the site (DNS, or the hosts file). */
  addressOf(hostname: string): Promise<string>;
  /** Qlik Sense (and its patches, "... Patch N") and PostgreSQL as Programs and Features lists them. */
  installedProducts(): Promise<InstalledProduct[]>;
  /** Free bytes on the volume of a Windows path of this node (its nearest existing folder); null when unknown. */
  freeBytes(windowsPath: string): Promise<number | null>;
}

/** Where the repository database's PostgreSQL lives on a node that runs its service. */
export interface DatabaseLocation {
  service: string;
  /** The server's own bin folder, as node:fs opens it; only on the node qsadmin runs on (its tools run here). */
  binDir?: string;
  /** The data folder (postgresql.conf, pg_hba.conf), as node:fs opens it. */
  dataDir?: string;
  /** The data folder as the node names it (for the manifest). */
  dataDirWindows?: string;
  /** The account the service runs as. */
  account?: string;
}

export interface Host {
  /** The node's hostname as Qlik knows it. */
  name: string;
  services: ServiceControl;
  exec(file: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  files: HostFiles;
  certs: CertStore;
  paths: SitePaths;
  shares: ShareCapture;
  machine: MachineState;
  /** Accounts, local groups, folder ACLs and the services' Log On (guide §2.11). */
  accounts: AccountControl;
  /** The repository database's service on this node, or null when this node runs none. */
  database(): Promise<DatabaseLocation | null>;
  /** Release sessions and handles (PowerShell, sockets). */
  close(): Promise<void>;
}
