// The repository database service of an emulated node (QlikSenseRepositoryDatabase or postgresql-x64-14) mapped onto a
// real PostgreSQL cluster, with the database faults (failToStart, hangOnStop, slowDatabaseMs, databaseGoesAwayAfterMs).
import fs from 'node:fs';
import net from 'node:net';
import { PgCluster } from '../../postgres/cluster.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import type { DatabaseServiceName } from '../../site/services.js';
import type { ServiceStatus } from '../../host/types.js';
import { failsToStart, hangsOnStop, readFaults } from '../faults.js';
import { ServiceControlError, seconds } from './errors.js';
import { consoleLogFile } from './log.js';
import { emulatorOptions } from './options.js';
import { spawnDetached } from './spawn.js';
import { isProcessAlive, processMarkers, readState, writeState } from './state.js';

export const WATCHDOG = 'database-watchdog';

// The superuser password of the site's database: the environment variable named in the site, else (demo) the secrets file.
export function databasePassword(site: SiteConfig, env: NodeJS.ProcessEnv = process.env): string {
  const envName = site.database.passwordEnv;
  if (envName && env[envName]) return env[envName]!;
  const file = emulatorOptions(site).passwordFile;
  if (file) {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new Error(`the database password is not in ${envName ?? 'the environment'} and ${file} cannot be read (${(e as NodeJS.ErrnoException).code}): set ${envName ?? 'database.passwordEnv'}`);
    }
  }
  throw new Error(`the database superuser password is not set: export ${envName ?? 'the variable named in database.passwordEnv'}`);
}

// The cluster behind the site's database service.
export function siteCluster(site: SiteConfig, password: string): PgCluster {
  const db = site.database;
  if (!db.dataDir || !db.binDir) throw new Error(`site ${site.name}: an emulated database needs database.dataDir and database.binDir`);
  return new PgCluster({ dataDir: db.dataDir, port: db.port, host: db.host, binDir: db.binDir, osUser: 'postgres', superuser: db.superuser, password });
}

// True when something accepts TCP connections at host:port within the timeout.
export function portAccepts(host: string, port: number, timeoutMs = 1500, localAddress?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

// Wait a while.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class DatabaseService {
  // The database service `name` of the site, run on `node`.
  constructor(
    readonly site: SiteConfig,
    readonly node: NodeConfig,
    readonly name: DatabaseServiceName,
    private readonly password: () => string,
  ) {}

  // The cluster (the password is read only when the cluster is needed).
  private cluster(): PgCluster {
    return siteCluster(this.site, this.password());
  }

  // Running with the postmaster's pid, or stopped.
  async status(): Promise<ServiceStatus> {
    // The postmaster's pid file says whether it runs: no password is needed to ask.
    const pid = await siteCluster(this.site, '').pid();
    return pid ? { name: this.name, state: 'running', pid } : { name: this.name, state: 'stopped' };
  }

  // Start the cluster; honours failToStart, slowDatabaseMs and databaseGoesAwayAfterMs.
  async start(timeoutMs: number): Promise<void> {
    const faults = readFaults(this.site);
    const cluster = this.cluster();
    if (await cluster.isRunning()) return;
    if (failsToStart(faults, this.name)) {
      throw new ServiceControlError('TERMINATED', this.name, `Service '${this.name}' on ${this.node.name} terminated at start (Windows error 1067: The process terminated unexpectedly) [emulated fault failToStart]`);
    }
    if (faults.slowDatabaseMs) await sleep(faults.slowDatabaseMs);
    await cluster.start({ timeoutMs });
    if (faults.databaseGoesAwayAfterMs !== undefined) this.startWatchdog(faults.databaseGoesAwayAfterMs);
  }

  // Stop the cluster (fast shutdown); a hangOnStop fault or a slow shutdown ends in "did not stop within Ns".
  async stop(timeoutMs: number): Promise<void> {
    this.stopWatchdog();
    const faults = readFaults(this.site);
    const cluster = this.cluster();
    if (!(await cluster.isRunning())) return;
    if (hangsOnStop(faults, this.name)) {
      await sleep(timeoutMs);
      throw new ServiceControlError('STOP_TIMEOUT', this.name, `service ${this.name} did not stop within ${seconds(timeoutMs)} [emulated fault hangOnStop]`);
    }
    try {
      await cluster.stop({ mode: 'fast', timeoutMs });
    } catch (err) {
      throw new ServiceControlError('STOP_TIMEOUT', this.name, `service ${this.name} did not stop within ${seconds(timeoutMs)}: ${(err as Error).message}`);
    }
  }

  // Start the detached process that shuts the database down after a while (fault databaseGoesAwayAfterMs).
  private startWatchdog(afterMs: number): void {
    const root = this.node.root!;
    const args = ['--root', root, '--service', WATCHDOG, '--data', this.site.database.dataDir!, '--after', String(afterMs)];
    const spawned = spawnDetached('db-watchdog', this.site, this.node, args, consoleLogFile(root, this.node.hostname, 'Repository'));
    writeState(root, { name: WATCHDOG, pid: spawned.pid, state: 'running', ports: [], startedAt: new Date().toISOString() });
  }

  // Stop a pending watchdog (a planned stop wins over the fault).
  private stopWatchdog(): void {
    const root = this.node.root!;
    const st = readState(root, WATCHDOG);
    if (st && isProcessAlive(st.pid, processMarkers(root, WATCHDOG))) process.kill(st.pid, 'SIGKILL');
    if (st) writeState(root, { ...st, state: 'stopped', stoppedAt: new Date().toISOString() });
  }
}
