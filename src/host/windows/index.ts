// The Windows Host driver (DESIGN.md "Host drivers"): services and machine state through one PowerShell session per
// node (remoting for other nodes), files through node:fs (admin shares for other nodes), programs through execa.
import os from 'node:os';
import { execa } from 'execa';
import { childEnv } from '../../runbook/children.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { defaultSitePaths } from '../paths.js';
import type { AccountCheck, CertStore, DatabaseLocation, ExecOptions, ExecResult, Host, Identity, InstalledProduct, InstalledService, MachineInventory, MachineState, ShareCapture, SitePaths } from '../types.js';
import { ALL_QLIK_SERVICES, DATABASE_SERVICES, type ServiceName } from '../../site/services.js';
import { ACCOUNT, CAN_CONNECT, FREE_BYTES, IDENTITY, INSTALLED_PRODUCTS, INVENTORY, PORTS_IN_USE, POST_LOCAL_FORM, REBOOT_PENDING, RESOLVE } from './ps/machine.js';
import { PROCESS_RUN } from './ps/process.js';
import { WindowsCertStore } from './certstore.js';
import { WindowsFiles } from './files.js';
import { PsSession, type NodeReach } from './session.js';
import { joinCommandLine, postgresServiceInfo, type PostgresServiceInfo } from './service-command.js';
import { WindowsServiceControl } from './services.js';
import { VssShares } from './shares.js';
import { WindowsAccounts } from './accounts.js';
import type { AccountControl } from '../accounts.js';

export { WindowsCertStore } from './certstore.js';
export { WindowsFiles } from './files.js';
export { WindowsServiceControl } from './services.js';

/** How a node is reached: its config's `reach`, else local when its hostname is this machine's, else WinRM. */
export function nodeReach(node: NodeConfig): NodeReach {
  if (node.reach) return node.reach;
  const here = os.hostname().toLowerCase();
  const name = node.hostname.toLowerCase();
  return name === here || name.split('.')[0] === here.split('.')[0] ? { via: 'local' } : { via: 'winrm' };
}


export class WindowsHost implements Host {
  readonly name: string;
  readonly services: WindowsServiceControl;
  readonly files: WindowsFiles;
  readonly certs: CertStore;
  readonly paths: SitePaths;
  readonly shares: ShareCapture;
  readonly machine: MachineState;
  readonly accounts: AccountControl;
  private readonly session: PsSession;
  private readonly reach: NodeReach;

  constructor(
    readonly site: SiteConfig,
    readonly node: NodeConfig,
    opts: { powershell?: string } = {},
  ) {
    this.name = node.hostname;
    this.reach = nodeReach(node);
    this.session = new PsSession(node.hostname, {
      executable: opts.powershell ?? process.env.QSADMIN_POWERSHELL ?? 'powershell',
      reach: this.reach,
      env: childEnv(),
    });
    this.services = new WindowsServiceControl(site, node, this.session);
    this.accounts = new WindowsAccounts(this.session, node.name);
    this.files = new WindowsFiles(this.reach.via === 'local' ? undefined : node.hostname, this.session);
    // The account does not change while qsadmin runs: asked once, for the checks and the certificate stores alike.
    let me: Promise<Identity> | undefined;
    const identity = (): Promise<Identity> => (me ??= this.session.run<Identity>(IDENTITY));
    this.certs = new WindowsCertStore(this.session, site.serviceAccount, identity);
    this.paths = defaultSitePaths(process.env.SystemDrive ?? 'C:');
    const programData = process.env.ProgramData ?? `${process.env.SystemDrive ?? 'C:'}\\ProgramData`;
    this.shares = new VssShares(this.session, this.reach.via === 'local', node.hostname, programData, (p) => this.files.resolve(p));
    this.machine = {
      identity,
      rebootPending: (): Promise<string[]> => this.session.run(REBOOT_PENDING),
      installedServices: async (): Promise<InstalledService[]> => {
        const rows = await this.services.query([...Object.keys(DATABASE_SERVICES), ...ALL_QLIK_SERVICES] as ServiceName[]);
        return rows.filter((r) => r.state !== 'absent').map((r) => ({ name: r.name, account: r.account, commandLine: r.path }));
      },
      // Qlik nodes reach each other by hostname (certificates are issued to it): DNS answers, not qsadmin.
      addressOf: async (hostname: string): Promise<string> => hostname,
      installedProducts: (): Promise<InstalledProduct[]> => this.session.run(INSTALLED_PRODUCTS),
      freeBytes: async (windowsPath: string): Promise<number | null> => {
        const n = await this.session.run<number | null>(FREE_BYTES, { Path: windowsPath });
        return typeof n === 'number' ? n : null;
      },
      inventory: (): Promise<MachineInventory> => this.session.run(INVENTORY),
      resolve: (hostname: string) => this.session.run<{ addresses: string[]; local: boolean }>(RESOLVE, { Hostname: hostname }),
      portsInUse: async (ports: number[]): Promise<number[]> => (await this.session.run<number[] | null>(PORTS_IN_USE, { Ports: ports })) ?? [],
      canConnect: (host: string, port: number, timeoutMs = 3000): Promise<boolean> => this.session.run(CAN_CONNECT, { Address: host, Port: port, TimeoutMs: timeoutMs }),
      account: (name: string, password?: string): Promise<AccountCheck> => this.session.run(ACCOUNT, { Name: name, Password: password ?? '', CheckPassword: password !== undefined }),
      postLocalForm: (port: number, urlPath: string, fields: Record<string, string>) => this.session.run(POST_LOCAL_FORM, { Port: port, UrlPath: urlPath, Fields: fields }),
    };
  }

  async exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.reach.via !== 'local') {
      return this.session.run<ExecResult>(PROCESS_RUN, {
        File: file,
        CommandLine: opts.verbatim ? args.join(' ') : joinCommandLine(args),
        Environment: opts.env ?? {},
        InputText: opts.input ?? '',
        WorkingDirectory: opts.cwd ?? '',
        TimeoutMs: opts.timeoutMs ?? 24 * 3600_000,
      });
    }
    const r = await execa(file, args, {
      reject: false,
      cwd: opts.cwd,
      env: childEnv(opts.env),
      extendEnv: false,
      windowsHide: true,
      windowsVerbatimArguments: opts.verbatim,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
    });
    return { exitCode: r.exitCode ?? (r.timedOut ? 1460 : 1), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  /**
   * Where the repository database's PostgreSQL lives, from its service's command line (bundled 9.6/12.5/14 or
   * QPI's postgresql-x64-14); null when this node runs no database service (a dedicated server elsewhere).
   */
  async databaseService(): Promise<(PostgresServiceInfo & { service: string; account?: string }) | null> {
    const svc = this.site.database.service;
    if (!svc || this.site.database.node !== this.node.name) return null;
    const st = await this.services.status(svc);
    const info = st.path ? postgresServiceInfo(st.path) : null;
    return info ? { ...info, service: svc, account: st.account } : null;
  }

  /** The database service's folders as node:fs opens them; the config's dataDir when the command line has none. */
  async database(): Promise<DatabaseLocation | null> {
    const svc = this.site.database.service;
    if (!svc || this.site.database.node !== this.node.name) return null;
    const info = await this.databaseService();
    const dataDir = info?.dataDir ?? this.site.database.dataDir;
    return {
      service: svc,
      binDir: info && this.reach.via === 'local' ? this.files.resolve(info.binDir) : undefined,
      dataDir: dataDir ? this.files.resolve(dataDir) : undefined,
      dataDirWindows: dataDir,
      account: info?.account,
    };
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
