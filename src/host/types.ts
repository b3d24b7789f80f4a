// The Host driver interface: everything a runbook does to a node goes through it (DESIGN.md "Host drivers").
import type { Readable } from 'node:stream';
import type { ServiceName } from '../site/services.js';
import type { PrivateFiles } from './private-files.js';

export type ServiceState = 'running' | 'stopped' | 'start_pending' | 'stop_pending' | 'absent';

export interface ServiceStatus {
  name: ServiceName;
  state: ServiceState;
  pid?: number;
}

export interface ServiceControl {
  /** Every Qlik service (and the database service, if this node runs it) with its state. */
  list(): Promise<ServiceStatus[]>;
  status(name: ServiceName): Promise<ServiceStatus>;
  /** Start one service; fails like Windows does when a dependency is not running. */
  start(name: ServiceName, opts?: { timeoutMs?: number }): Promise<void>;
  /** Stop one service; fails with a timeout error when it does not stop in time. */
  stop(name: ServiceName, opts?: { timeoutMs?: number }): Promise<void>;
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

export interface Host {
  /** The node's hostname as Qlik knows it. */
  name: string;
  services: ServiceControl;
  exec(file: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  files: HostFiles;
  certs: CertStore;
  paths: SitePaths;
  /** Release sessions and handles (PowerShell, sockets). */
  close(): Promise<void>;
}
