// The inside of an emulated service process: its identity, log, state file, listeners and orderly stop.
import type { Server } from 'node:net';
import { readFaults, failsToStart, hangsOnStop, type FaultConfig } from '../faults.js';
import { findNode, type NodeConfig, type SiteConfig } from '../../site/model.js';
import type { ServiceName } from '../../site/services.js';
import { openServiceLog, type ServiceLog } from './log.js';
import { SITE_ENV } from './site-env.js';
import { writeState, type ServiceStateFile } from './state.js';

export interface ServiceArgs {
  root: string;
  node: string;
  service: ServiceName;
}

// Read --root, --node and --service from a service process's arguments.
export function parseServiceArgs(argv: string[]): ServiceArgs {
  const get = (flag: string): string => {
    const i = argv.indexOf(flag);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`emulated service: missing ${flag} <value>`);
    return argv[i + 1];
  };
  return { root: get('--root'), node: get('--node'), service: get('--service') as ServiceName };
}

export class ServiceRuntime {
  readonly site: SiteConfig;
  readonly node: NodeConfig;
  readonly root: string;
  readonly name: ServiceName;
  readonly log: ServiceLog;
  readonly faults: FaultConfig;
  private state: ServiceStateFile;
  private readonly servers: Server[] = [];
  private readonly stopHooks: Array<() => Promise<void> | void> = [];
  private stopping = false;

  // Build the runtime from the process arguments and the site config the parent put in the environment.
  constructor(args: ServiceArgs, env: NodeJS.ProcessEnv = process.env) {
    const json = env[SITE_ENV];
    if (!json) throw new Error(`emulated service: ${SITE_ENV} is not set (start services through the emulated service control)`);
    this.site = JSON.parse(json) as SiteConfig;
    this.node = findNode(this.site, args.node);
    this.root = args.root;
    this.name = args.service;
    this.faults = readFaults(this.site);
    this.log = openServiceLog(this.root, this.node.hostname, this.name, this.site.serviceAccount);
    this.state = { name: this.name, pid: process.pid, state: 'start_pending', ports: [], startedAt: new Date().toISOString() };
    writeState(this.root, this.state);
  }

  // Apply the start and stop faults of this service and install the SIGTERM handler.
  begin(): void {
    process.on('SIGTERM', () => {
      if (hangsOnStop(this.faults, this.name)) {
        this.log.warn('Stop requested; the service does not respond (emulated fault hangOnStop)');
        return;
      }
      void this.stop('Stop requested by the service control manager');
    });
    process.on('uncaughtException', (err) => this.fail(`Unhandled exception: ${err.stack ?? err.message}`));
    process.on('unhandledRejection', (err) => this.fail(`Unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
    this.log.info(`Starting ${this.name} on ${this.node.hostname} (emulated, pid ${process.pid})`);
    if (failsToStart(this.faults, this.name)) this.fail('The service terminated at start (emulated fault failToStart)');
  }

  // Listen on the node's address; resolves once listening, fails the service when the port is taken.
  async listen(server: Server, port: number, host = this.node.address): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : `cannot listen on ${host}:${port}: ${err.message}`;
      this.fail(why);
    });
    this.servers.push(server);
    this.state = { ...this.state, ports: [...this.state.ports, port] };
    writeState(this.root, this.state);
  }

  // Close one listener again (e.g. the certificate unlock port after the unlock).
  async unlisten(server: Server, port: number): Promise<void> {
    const i = this.servers.indexOf(server);
    if (i >= 0) this.servers.splice(i, 1);
    await closeServer(server);
    this.state = { ...this.state, ports: this.state.ports.filter((p) => p !== port) };
    writeState(this.root, this.state);
  }

  // Report the service as running to the service control manager.
  running(message = 'Service started'): void {
    this.state = { ...this.state, state: 'running' };
    writeState(this.root, this.state);
    this.log.info(message);
  }

  // Register something to undo when the service stops (close a database pool, ...).
  onStop(hook: () => Promise<void> | void): void {
    this.stopHooks.push(hook);
  }

  // Stop in order: close listeners and hooks, record "stopped", exit 0.
  async stop(reason: string): Promise<void> {
    if (this.stopping) return; // a second request while stopping: the first one finishes the job
    this.stopping = true;
    this.log.info(`${reason}; stopping`);
    await Promise.allSettled(this.servers.map(closeServer));
    for (const hook of this.stopHooks.reverse()) await Promise.resolve(hook()).catch(() => undefined);
    this.state = { ...this.state, state: 'stopped', ports: [], stoppedAt: new Date().toISOString() };
    writeState(this.root, this.state);
    this.log.info('Service stopped');
    process.exit(0);
  }

  // Log a fatal error, record it in the state file, and exit 1 (the service control reports it as error 1067).
  fail(message: string, level: 'ERROR' | 'FATAL' = 'FATAL'): never {
    try {
      this.log.write(level, message);
      this.state = { ...this.state, state: 'stopped', ports: [], stoppedAt: new Date().toISOString(), error: message };
      writeState(this.root, this.state);
    } finally {
      process.exit(1);
    }
  }
}

// Close a server and drop its open connections so that it closes at once.
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const s = server as Server & { closeAllConnections?: () => void };
    server.close(() => resolve());
    s.closeAllConnections?.();
    setTimeout(resolve, 2000).unref();
  });
}
