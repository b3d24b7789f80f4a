// A local PostgreSQL cluster run as a real server: the emulated repository database and throwaway clusters.
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { findServerBinDir, toolFile } from './bin.js';
import type { PgConn } from './client.js';
import { makeOwnedDir, serverEnv, serverIdentity, type OsIdentity } from './osuser.js';
import { ephemeralPort, pickFreePort } from './port.js';
import { ownGroup, track } from '../runbook/children.js';

export type PgAuthMethod = 'scram-sha-256' | 'md5';
export type PgStopMode = 'smart' | 'fast' | 'immediate';
export type PgSetting = string | number | boolean;

export interface PgClusterOptions {
  dataDir: string;
  port: number;
  /** listen_addresses; '*' or '0.0.0.0' listens everywhere (clients then use 127.0.0.1). */
  host?: string;
  /** Folder with initdb, pg_ctl and postgres. */
  binDir: string;
  /** Account that runs the server when we are root. */
  osUser?: string;
  superuser?: string;
  password: string;
  auth?: PgAuthMethod;
  /** Client networks allowed in pg_hba.conf besides loopback (CIDR). */
  allow?: string[];
  /** Extra postgresql.conf settings written at init (max_connections, fault injection, ...). */
  settings?: Record<string, PgSetting>;
}

export interface ScratchOptions {
  binDir?: string;
  host?: string;
  /** Ports to choose from; an OS-assigned free port when absent. */
  portRange?: [number, number];
  /** Parent folder of the temporary directory (default: the OS temp dir). */
  parentDir?: string;
  auth?: PgAuthMethod;
  settings?: Record<string, PgSetting>;
  /** Start the server after init (default true). */
  start?: boolean;
}

const STARTUP_LOG = 'startup.log';

// Render a postgresql.conf value.
function confValue(v: PgSetting): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return `'${v.replace(/'/g, "''")}'`;
}

// Whether a start failure came from the port being taken (so another port may be tried).
function isPortClash(log: string): boolean {
  return /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(log);
}

export class PgCluster {
  readonly dataDir: string;
  readonly host: string;
  readonly binDir: string;
  readonly osUser: string;
  readonly superuser: string;
  readonly password: string;
  readonly auth: PgAuthMethod;
  private portNumber: number;
  private readonly allow: string[];
  private readonly settings: Record<string, PgSetting>;
  private identity: OsIdentity | null | undefined;
  /** Set by scratch(): the temporary folder destroy() removes. */
  private scratchRoot?: string;

  // Describe a cluster; nothing touches the disk until init() or start().
  constructor(o: PgClusterOptions) {
    this.dataDir = path.resolve(o.dataDir);
    this.portNumber = o.port;
    this.host = o.host ?? '127.0.0.1';
    this.binDir = o.binDir;
    this.osUser = o.osUser ?? 'postgres';
    this.superuser = o.superuser ?? 'postgres';
    this.password = o.password;
    this.auth = o.auth ?? 'scram-sha-256';
    this.allow = o.allow ?? [];
    this.settings = o.settings ?? {};
  }

  // The port the server listens on.
  get port(): number {
    return this.portNumber;
  }

  // Address clients use to reach the server.
  get connectHost(): string {
    return this.host === '*' || this.host === '0.0.0.0' ? '127.0.0.1' : this.host;
  }

  // Superuser connection settings for this cluster.
  conn(database = 'postgres'): PgConn {
    return { host: this.connectHost, port: this.port, user: this.superuser, password: this.password, database };
  }

  // Path of the log that receives start-up messages (the server log proper is under log/).
  get startupLog(): string {
    return path.join(this.dataDir, STARTUP_LOG);
  }

  // Resolve (once) the account that runs server programs.
  private async who(): Promise<OsIdentity | null> {
    if (this.identity === undefined) this.identity = await serverIdentity(this.osUser);
    return this.identity;
  }

  // Run a server program (initdb, pg_ctl) as the server account.
  private async runServerTool(tool: string, args: string[], timeoutMs = 120_000) {
    const who = await this.who();
    return track(
      execa(toolFile(this.binDir, tool), args, {
        reject: false,
        stdin: 'ignore',
        cwd: '/',
        env: serverEnv(),
        extendEnv: false,
        timeout: timeoutMs,
        ...ownGroup(),
        ...(who ? { uid: who.uid, gid: who.gid } : {}),
      }),
    );
  }

  // Create the data directory with initdb: UTF8, password authentication, and our listen settings.
  async init(): Promise<void> {
    const who = await this.who();
    await makeOwnedDir(this.dataDir, who);
    // beside the data directory (initdb wants that empty), readable by the server account only, deleted at once
    const pwfile = path.join(path.dirname(this.dataDir), `.qsadmin-pw-${randomBytes(8).toString('hex')}`);
    await writeFile(pwfile, `${this.password}\n`, { mode: 0o600, flag: 'wx' });
    try {
      if (who) await chown(pwfile, who.uid, who.gid);
      const r = await this.runServerTool('initdb', [
        '-D', this.dataDir, '-U', this.superuser, `--pwfile=${pwfile}`, `--auth=${this.auth}`,
        '--encoding=UTF8', '--no-locale', '--no-sync',
      ]);
      if (r.exitCode !== 0) throw new Error(`initdb of ${this.dataDir} failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`);
    } finally {
      await rm(pwfile, { force: true });
    }
    await this.writeSettings({
      listen_addresses: this.host,
      port: this.port,
      unix_socket_directories: '',
      password_encryption: this.auth,
      logging_collector: true,
      log_directory: 'log',
      log_filename: 'postgresql-%Y-%m-%d_%H%M%S.log',
      ...this.settings,
    });
    const hba = ['127.0.0.0/8', ...this.allow].map((cidr) => `host    all             all             ${cidr.padEnd(24)}${this.auth}`);
    await appendFile(path.join(this.dataDir, 'pg_hba.conf'), `\n# qsadmin\n${hba.join('\n')}\n`);
  }

  // Set postgresql.conf parameters: an active line for each key replaces any earlier one (takes effect at start).
  async writeSettings(settings: Record<string, PgSetting>): Promise<void> {
    const file = path.join(this.dataDir, 'postgresql.conf');
    const keys = Object.keys(settings);
    const kept = (await readFile(file, 'utf8'))
      .split('\n')
      .filter((line) => !keys.some((k) => new RegExp(`^\\s*${k}\\s*=`).test(line)));
    while (kept.length && kept[kept.length - 1] === '') kept.pop();
    const added = keys.map((k) => `${k} = ${confValue(settings[k])}`);
    await writeFile(file, [...kept, '', '# qsadmin', ...added, ''].join('\n'));
    if ('port' in settings) this.portNumber = Number(settings.port);
  }

  // Start the server and wait until it accepts connections.
  async start(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (await this.isRunning()) return;
    const secs = Math.max(1, Math.ceil((opts.timeoutMs ?? 60_000) / 1000));
    const r = await this.runServerTool('pg_ctl', ['start', '-D', this.dataDir, '-w', '-t', String(secs), '-s', '-l', this.startupLog], (secs + 10) * 1000);
    if (r.exitCode !== 0) {
      const log = await this.logTail();
      throw new Error(`PostgreSQL in ${this.dataDir} did not start on ${this.host}:${this.port} (pg_ctl exit ${r.exitCode}): ${String(r.stderr).trim()}\n${log}`);
    }
  }

  // Stop the server (fast by default: roll back sessions, then shut down); no-op when stopped.
  async stop(opts: { mode?: PgStopMode; timeoutMs?: number } = {}): Promise<void> {
    if (!(await this.isRunning())) return;
    const secs = Math.max(1, Math.ceil((opts.timeoutMs ?? 60_000) / 1000));
    const r = await this.runServerTool('pg_ctl', ['stop', '-D', this.dataDir, '-m', opts.mode ?? 'fast', '-w', '-t', String(secs), '-s'], (secs + 10) * 1000);
    if (r.exitCode !== 0 && (await this.isRunning())) {
      throw new Error(`PostgreSQL in ${this.dataDir} did not stop in ${secs} s (mode ${opts.mode ?? 'fast'}): ${String(r.stderr).trim()}`);
    }
  }

  // Process id of the running postmaster, from postmaster.pid; null when not running.
  async pid(): Promise<number | null> {
    let text: string;
    try {
      text = await readFile(path.join(this.dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return null;
    }
    const pid = Number(text.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    try {
      process.kill(pid, 0);
      return pid;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
    }
  }

  // Whether the server is running.
  async isRunning(): Promise<boolean> {
    return (await this.pid()) !== null;
  }

  // The last lines of the start-up log and the newest server log, for error messages.
  async logTail(lines = 20): Promise<string> {
    const files = [this.startupLog];
    const logDir = path.join(this.dataDir, 'log');
    const logs = (await readdir(logDir).catch(() => [] as string[])).sort();
    if (logs.length) files.push(path.join(logDir, logs[logs.length - 1]));
    const parts: string[] = [];
    for (const f of files) {
      const text = await readFile(f, 'utf8').catch(() => '');
      if (text.trim()) parts.push(`--- ${f}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  // Stop the server at once and delete its files (a scratch cluster's whole temporary folder).
  async destroy(): Promise<void> {
    try {
      await this.stop({ mode: 'immediate', timeoutMs: 30_000 });
    } finally {
      await rm(this.scratchRoot ?? this.dataDir, { recursive: true, force: true });
    }
  }

  // Start the server, moving to another free port of the range when the chosen one was taken meanwhile.
  private async startOnFreePort(range: [number, number] | undefined): Promise<void> {
    const tried: number[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        const log = await readFile(this.startupLog, 'utf8').catch(() => '');
        if (attempt >= 8 || !isPortClash(log)) throw err;
        tried.push(this.port);
        await writeFile(this.startupLog, '');
        const port = range ? await pickFreePort(this.connectHost, range, tried) : await ephemeralPort(this.connectHost);
        await this.writeSettings({ port });
      }
    }
  }

  // A throwaway cluster in a fresh temporary folder on a free port, started; destroy() removes it all.
  static async scratch(o: ScratchOptions = {}): Promise<PgCluster> {
    const host = o.host ?? '127.0.0.1';
    const binDir = (await findServerBinDir(o.binDir)).dir;
    // The owner's pid in the name lets the next run reap the folder (and its server) of a killed one: backup/reap.ts.
    const root = await mkdtemp(path.join(o.parentDir ?? os.tmpdir(), `qsadmin-pg-${process.pid}-`));
    await chmod(root, 0o755);
    try {
      const port = o.portRange ? await pickFreePort(host, o.portRange) : await ephemeralPort(host);
      const cluster = new PgCluster({
        dataDir: path.join(root, 'data'),
        port,
        host,
        binDir,
        password: randomBytes(12).toString('base64url'),
        auth: o.auth,
        // a throwaway cluster need not survive a power cut: skip fsync for speed
        settings: { fsync: false, synchronous_commit: false, full_page_writes: false, ...o.settings },
      });
      cluster.scratchRoot = root;
      await cluster.init();
      if (o.start !== false) await cluster.startOnFreePort(o.portRange);
      return cluster;
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw err;
    }
  }
}

