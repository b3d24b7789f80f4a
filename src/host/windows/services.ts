// ServiceControl of a Windows node: the service control manager through PowerShell (ServiceController), with the
// Win32 errors mapped to the same ServiceControlError the emulator raises, so runbooks see one behaviour.
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { ALL_QLIK_SERVICES, isDatabaseService, QRS_STATE_PORT, type ServiceName } from '../../site/services.js';
import { ServiceControlError, serviceLabel, type ServiceErrorCode } from '../service-errors.js';
import { fetchRepositoryState } from '../repository-state.js';
import type { ServiceControl, ServiceState, ServiceStatus, StopOptions, StopOutcome } from '../types.js';
import { SERVICE_CONTROL, SERVICE_END_PROCESS, SERVICE_LIST } from './ps/services.js';
import type { PsSession } from './session.js';

// Win32_Service.State values (Microsoft's documentation of the class) to ours.
const STATES: Record<string, ServiceState> = {
  Running: 'running',
  Stopped: 'stopped',
  'Start Pending': 'start_pending',
  'Stop Pending': 'stop_pending',
  // ServiceController.Status names the same states without spaces.
  StartPending: 'start_pending',
  StopPending: 'stop_pending',
  absent: 'absent',
};

const BY_WIN32: Record<number, ServiceErrorCode> = { 1068: 'DEPENDENCY', 1067: 'TERMINATED', 1060: 'NOT_INSTALLED', 1061: 'PENDING', 1069: 'LOGON', 1057: 'INVALID_ACCOUNT' };

export interface WindowsServiceStatus extends ServiceStatus {
  /** The logon account (Win32_Service.StartName), e.g. DOMAIN\qservice or NT AUTHORITY\NetworkService. */
  account?: string;
  /** The service's command line (Win32_Service.PathName): where its executable and, for PostgreSQL, its data live. */
  path?: string;
}

export class WindowsServiceControl implements ServiceControl {
  constructor(
    private readonly site: SiteConfig,
    private readonly node: NodeConfig,
    private readonly session: PsSession,
  ) {}

  /** The database service (when this node runs it), then the node's Qlik services. */
  installed(): ServiceName[] {
    const db = this.site.database;
    const qlik = this.node.services ?? ALL_QLIK_SERVICES;
    return db.service && db.node === this.node.name ? [db.service, ...qlik] : [...qlik];
  }

  async list(): Promise<WindowsServiceStatus[]> {
    return this.query(this.installed());
  }

  async status(name: ServiceName): Promise<WindowsServiceStatus> {
    return (await this.query([name]))[0];
  }

  /** State, pid, logon account and command line of the named services, installed here or not ("absent"). */
  async query(names: ServiceName[]): Promise<WindowsServiceStatus[]> {
    const rows = await this.session.run<Array<{ name: ServiceName; state: string; pid?: number; account?: string; path?: string }>>(SERVICE_LIST, { Names: names });
    return rows.map((r) => ({
      name: r.name,
      state: STATES[r.state] ?? 'stopped',
      pid: r.pid || undefined,
      account: r.account || undefined,
      path: r.path || undefined,
    }));
  }

  async start(name: ServiceName, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.control(name, 'start', opts.timeoutMs ?? 120_000);
  }

  async stop(name: ServiceName, opts: StopOptions = {}): Promise<StopOutcome | void> {
    try {
      await this.control(name, 'stop', opts.timeoutMs ?? 60_000);
    } catch (e) {
      if (!opts.endStuckProcess || isDatabaseService(name) || (e as ServiceControlError).code !== 'STOP_TIMEOUT') throw e;
      const r = await this.session.run<{ ok: boolean; pid: number; state: string; message?: string }>(SERVICE_END_PROCESS, { Name: name, TimeoutMs: 30_000 });
      if (!r.ok) throw new ServiceControlError('STOP_TIMEOUT', name, `${serviceLabel(name)} on ${this.node.hostname} stayed ${r.state} after its process ${r.pid} was ended: ${r.message ?? ''}`);
      return { endedProcess: r.pid };
    }
  }

  private async control(name: ServiceName, verb: 'start' | 'stop', timeoutMs: number): Promise<void> {
    const r = await this.session.run<{ ok: boolean; win32?: number; timeout?: boolean; state?: string; message?: string }>(SERVICE_CONTROL, { Name: name, Verb: verb, TimeoutMs: timeoutMs });
    if (r.ok) return;
    const code: ServiceErrorCode = r.timeout ? (verb === 'start' ? 'START_TIMEOUT' : 'STOP_TIMEOUT') : (BY_WIN32[r.win32 ?? 0] ?? (verb === 'start' ? 'START_TIMEOUT' : 'STOP_TIMEOUT'));
    const what = r.timeout ? `did not reach ${verb === 'start' ? 'Running' : 'Stopped'} within ${timeoutMs / 1000}s (state ${r.state})` : `could not be ${verb === 'start' ? 'started' : 'stopped'}: ${r.message}`;
    throw new ServiceControlError(code, name, `${serviceLabel(name)} on ${this.node.hostname} ${what} (Windows error ${r.win32 ?? 1053})`);
  }

  async repositoryState(): Promise<number | null> {
    return fetchRepositoryState(this.node.address, QRS_STATE_PORT + (this.node.portOffset ?? 0));
  }
}
