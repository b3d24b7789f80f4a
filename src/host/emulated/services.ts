// ServiceControl of an emulated node: Qlik services are real detached processes, the database service is a real
// PostgreSQL cluster; dependencies, start order and stop timeouts are enforced as Windows and Qlik enforce them.
import fs from 'node:fs';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { ALL_QLIK_SERVICES, isDatabaseService, serviceFact, type ServiceName } from '../../site/services.js';
import type { ServiceControl, ServiceState, ServiceStatus, StopOptions, StopOutcome } from '../types.js';
import { fetchRepositoryState } from '../repository-state.js';
import { DatabaseService, portAccepts } from '../../emulator/services/database.js';
import { ServiceControlError, seconds, serviceLabel } from '../service-errors.js';
import { consoleLogFile } from '../../emulator/services/log.js';
import { readMachineFacts } from '../../emulator/services/install-layout.js';
import { emulatorOptions } from '../../emulator/services/options.js';
import { repositoryPorts } from '../../emulator/services/ports.js';
import { spawnDetached } from '../../emulator/services/spawn.js';
import { isProcessAlive, processMarkers, readState, updateState, watchState, writeState, type StateWatch } from '../../emulator/services/state.js';

const POLL_MS = 10;

// The services the emulated machine has (its machine facts), or null for a node without facts (an older site).
function machineServiceNames(root: string): Set<string> | null {
  try {
    return new Set(readMachineFacts(root).services.map((r) => r.Name));
  } catch {
    return null;
  }
}

// Wait a while.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The last lines of a service's console log, for an error message.
function consoleTail(file: string, lines = 8): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return text ? `${file} ends with:\n${text.split('\n').slice(-lines).join('\n')}` : `nothing in ${file}`;
  } catch {
    return `no console log at ${file}`;
  }
}

export class EmulatedServiceControl implements ServiceControl {
  // Service control of one node of the site; `password` supplies the database superuser password when needed.
  constructor(
    readonly site: SiteConfig,
    readonly node: NodeConfig,
    private readonly password: () => string,
  ) {}

  // The node directory.
  private get root(): string {
    if (!this.node.root) throw new Error(`node ${this.node.name} has no "root" directory: an emulated node needs one`);
    return this.node.root;
  }

  // The database service when this node runs it, else null.
  private database(): DatabaseService | null {
    const db = this.site.database;
    if (!db.service || db.node !== this.node.name) return null;
    return new DatabaseService(this.site, this.node, db.service, this.password);
  }

  // The services installed on this node: the database service (if here), then the Qlik services in start order.
  // The machine's own list (what setup installed, machine-facts.json) wins over the config: a service the config names
  // but the machine lacks (a bare node, an uninstalled one) is not installed.
  installed(): ServiceName[] {
    const qlik = (this.node.services ?? ALL_QLIK_SERVICES).slice().sort((a, b) => serviceFact(a)!.tier - serviceFact(b)!.tier);
    const db = this.database();
    const all: ServiceName[] = db ? [db.name, ...qlik] : qlik;
    const onMachine = machineServiceNames(this.root);
    return onMachine ? all.filter((n) => onMachine.has(n)) : all;
  }

  // Refuse a service that is not installed here, as Windows does (error 1060).
  private requireInstalled(name: ServiceName): void {
    if (this.installed().includes(name)) return;
    const where = isDatabaseService(name) && this.site.database.node ? ` (the repository database runs on node ${this.site.database.node})` : '';
    throw new ServiceControlError('NOT_INSTALLED', name, `Cannot find any service with service name '${name}' on node ${this.node.name}${where} (Windows error 1060)`);
  }

  // Every installed service with its state.
  async list(): Promise<ServiceStatus[]> {
    return Promise.all(this.installed().map((n) => this.status(n)));
  }

  // The state of one service: from its state file, a dead pid meaning stopped.
  async status(name: ServiceName): Promise<ServiceStatus> {
    if (!this.installed().includes(name)) return { name, state: 'absent' };
    if (isDatabaseService(name)) return this.database()!.status();
    const st = readState(this.root, name);
    if (!st || !isProcessAlive(st.pid, processMarkers(this.root, name))) return { name, state: 'stopped' };
    const state: ServiceState = st.state === 'stopped' ? 'stop_pending' : st.state;
    return { name, state, pid: st.pid };
  }

  // Start one service after checking its dependencies; waits until it runs and its ports accept connections.
  async start(name: ServiceName, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.requireInstalled(name);
    const timeoutMs = opts.timeoutMs ?? emulatorOptions(this.site).startTimeoutMs;
    if (isDatabaseService(name)) return this.database()!.start(timeoutMs);
    const current = await this.status(name);
    if (current.state === 'running') return;
    if (current.state === 'start_pending') return this.waitRunning(name, current.pid!, timeoutMs);
    if (current.state === 'stop_pending') {
      throw new ServiceControlError('PENDING', name, `Service '${serviceLabel(name)}' on ${this.node.name} is still stopping (pid ${current.pid}; Windows error 1061: The service cannot accept control messages at this time): wait for it to stop, or end the process, before starting it`);
    }
    await this.checkDependencies(name);
    const args = ['--root', this.root, '--node', this.node.name, '--service', name];
    const spawned = spawnDetached('service-main', this.site, this.node, args, consoleLogFile(this.root, this.node.hostname, name));
    // The service writes its own record as it starts (start_pending, then running); this one only covers the moment
    // before it does, and never replaces the service's own (a loaded machine can run the child first).
    if (readState(this.root, name)?.pid !== spawned.pid) writeState(this.root, { name, pid: spawned.pid, state: 'start_pending', ports: [], startedAt: new Date().toISOString() });
    await this.waitRunning(name, spawned.pid, timeoutMs);
  }

  // Refuse to start when a required service is not running (guide §1.3 start order, §8.9), naming the missing dependency.
  private async checkDependencies(name: ServiceName): Promise<void> {
    const fact = serviceFact(name)!;
    for (const dep of fact.requires) {
      if (dep === 'database') {
        const db = this.site.database;
        if (await portAccepts(db.host, db.port)) continue;
        const svc = db.service ? `the repository database service ${serviceLabel(db.service)}${db.node ? ` on node ${db.node}` : ''}` : 'the repository database server';
        throw new ServiceControlError('DEPENDENCY', name,
          `Service '${serviceLabel(name)}' on ${this.node.name} cannot be started: the repository database at ${db.host}:${db.port} is not reachable ` +
          `(Windows error 1068: The dependency service or group failed to start). The Repository Service cannot start without its database (guide §8.9): start ${svc} first.`,
          db.service ?? 'database');
      } else if ((await this.status(dep)).state !== 'running') {
        throw new ServiceControlError('DEPENDENCY', name,
          `Service '${serviceLabel(name)}' on ${this.node.name} cannot be started: the dependency service '${serviceLabel(dep)}' is not running ` +
          `(Windows error 1068: The dependency service or group failed to start). Start order: repository database, Service Dispatcher, Repository Service, then Proxy/Engine/Scheduler/Printing (guide §1.3).`,
          dep);
      }
    }
  }

  // Wait until the process reports running and each of its ports accepts a connection; a process that exits is error 1067.
  // The state file is watched, so that "running" is seen as soon as the service writes it; POLL_MS is the fallback.
  private async waitRunning(name: ServiceName, pid: number, timeoutMs: number): Promise<void> {
    const watch = watchState(this.root, name);
    try {
      await this.pollRunning(name, pid, timeoutMs, watch);
    } finally {
      watch.close();
    }
  }

  // The loop of waitRunning: check the state file and the process on every change of the file, at least every POLL_MS.
  private async pollRunning(name: ServiceName, pid: number, timeoutMs: number, watch: StateWatch): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const markers = processMarkers(this.root, name);
    for (;;) {
      const st = readState(this.root, name);
      if (!isProcessAlive(pid, markers)) {
        const why = st?.pid === pid && st.error ? st.error : consoleTail(consoleLogFile(this.root, this.node.hostname, name));
        if (st?.pid === pid && st.state !== 'stopped') updateState(this.root, name, { state: 'stopped', stoppedAt: new Date().toISOString() });
        throw new ServiceControlError('TERMINATED', name, `Service '${serviceLabel(name)}' on ${this.node.name} terminated unexpectedly at start (Windows error 1067: The process terminated unexpectedly): ${why}`);
      }
      if (st?.pid === pid && st.state === 'running') {
        const open = await Promise.all(st.ports.map((p) => portAccepts(this.node.address, p)));
        if (open.every(Boolean)) return;
      }
      if (Date.now() > deadline) {
        throw new ServiceControlError('START_TIMEOUT', name, `service ${name} did not start within ${seconds(timeoutMs)} on ${this.node.name} (Windows error 1053); it is still starting (pid ${pid})`);
      }
      await watch.next(POLL_MS);
    }
  }

  // Stop one service: SIGTERM, then wait up to the stop timeout; "service X did not stop within Ns" when it does not.
  async stop(name: ServiceName, opts: StopOptions = {}): Promise<StopOutcome | void> {
    this.requireInstalled(name);
    const timeoutMs = opts.timeoutMs ?? emulatorOptions(this.site).stopTimeoutMs;
    if (isDatabaseService(name)) return this.database()!.stop(timeoutMs);
    const st = readState(this.root, name);
    const markers = processMarkers(this.root, name);
    if (!st || !isProcessAlive(st.pid, markers)) {
      if (st && st.state !== 'stopped') updateState(this.root, name, { state: 'stopped', ports: [], stoppedAt: new Date().toISOString() });
      return;
    }
    if (st.state !== 'stop_pending') updateState(this.root, name, { state: 'stop_pending' });
    process.kill(st.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (isProcessAlive(st.pid, markers)) {
      if (Date.now() > deadline) {
        if (opts.endStuckProcess) return this.endStuck(name, st.pid, markers);
        throw new ServiceControlError('STOP_TIMEOUT', name, `service ${name} did not stop within ${seconds(timeoutMs)} on ${this.node.name} (pid ${st.pid} still running)`);
      }
      await sleep(POLL_MS);
    }
    const after = readState(this.root, name);
    if (after && after.state !== 'stopped') updateState(this.root, name, { state: 'stopped', ports: [], stoppedAt: new Date().toISOString() });
  }

  // The fallback for a Qlik service stuck in StopPending: end its process (as Task Manager or taskkill /F would).
  private async endStuck(name: ServiceName, pid: number, markers: string[]): Promise<StopOutcome> {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    for (let i = 0; i < 500 && isProcessAlive(pid, markers); i++) await sleep(POLL_MS);
    if (isProcessAlive(pid, markers)) throw new ServiceControlError('STOP_TIMEOUT', name, `service ${name} on ${this.node.name}: its process ${pid} did not end`);
    updateState(this.root, name, { state: 'stopped', ports: [], stoppedAt: new Date().toISOString() });
    return { endedProcess: pid };
  }

  // QRS state from http://<node>:4444/status/servicestate; null when nothing answers.
  async repositoryState(): Promise<number | null> {
    return fetchRepositoryState(this.node.address, repositoryPorts(this.node).state);
  }
}
