// The Windows Host driver (DESIGN.md "Host drivers"): services and machine state through one PowerShell session per
// node (remoting for other nodes), files through node:fs (admin shares for other nodes), programs through execa.
import os from 'node:os';
import { execa } from 'execa';
import { childEnv } from '../../runbook/children.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { defaultSitePaths } from '../paths.js';
import type { CertStore, ExecOptions, ExecResult, Host, SitePaths } from '../types.js';
import { IDENTITY, REBOOT_PENDING } from './ps/machine.js';
import { PROCESS_RUN } from './ps/process.js';
import { SHADOW_CREATE, SHADOW_DELETE, SHARE_LOCATION } from './ps/shadow.js';
import { WindowsCertStore } from './certstore.js';
import { WindowsFiles } from './files.js';
import { PsSession, type NodeReach } from './session.js';
import { joinCommandLine, postgresServiceInfo, type PostgresServiceInfo } from './service-command.js';
import { WindowsServiceControl } from './services.js';

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
    this.files = new WindowsFiles(this.reach.via === 'local' ? undefined : node.hostname, this.session);
    this.certs = new WindowsCertStore(this.session, site.serviceAccount);
    this.paths = defaultSitePaths(process.env.SystemDrive ?? 'C:');
  }

  async exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.reach.via !== 'local') {
      return this.session.run<ExecResult>(PROCESS_RUN, {
        File: file,
        CommandLine: joinCommandLine(args),
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

  /**
   * How a share folder can be captured while the services are down: a Volume Shadow Copy when it is on a local
   * NTFS/ReFS volume of this node (a UNC path of this machine's own SMB share counts), else a copy while down.
   */
  async shareCapture(folder: string): Promise<{ mode: 'vss' | 'copy-while-down'; local?: string; volume?: string; reason: string }> {
    if (this.reach.via !== 'local') return { mode: 'copy-while-down', reason: `qsadmin runs on another machine than ${this.node.hostname}` };
    const loc = await this.session.run<{ local: string | null; volume?: string; fileSystem?: string }>(SHARE_LOCATION, { Folder: folder });
    if (!loc.local) return { mode: 'copy-while-down', reason: `${folder} is on another file server: no shadow copy can be taken of it from here` };
    if (!/^(NTFS|ReFS)$/i.test(loc.fileSystem ?? '')) return { mode: 'copy-while-down', local: loc.local, volume: loc.volume, reason: `volume ${loc.volume} is ${loc.fileSystem || 'of an unknown file system'}, not NTFS or ReFS` };
    return { mode: 'vss', local: loc.local, volume: loc.volume, reason: `local ${loc.fileSystem} volume ${loc.volume}` };
  }

  /** Take a shadow copy of a volume, reachable through a directory link at `linkPath`; record its id to delete it. */
  createShadowCopy(volume: string, linkPath: string): Promise<{ id: string; device: string; link: string }> {
    return this.session.run(SHADOW_CREATE, { Volume: volume, LinkPath: linkPath });
  }

  /** Delete a shadow copy and its link (already gone is fine: the undo and the next run's reaper call it too). */
  async deleteShadowCopy(id: string, linkPath: string): Promise<void> {
    await this.session.run(SHADOW_DELETE, { Id: id, LinkPath: linkPath });
  }

  /** The account qsadmin runs as on this node, and whether it is elevated (an administrator token). */
  identity(): Promise<{ user: string; elevated: boolean; computer: string }> {
    return this.session.run(IDENTITY);
  }

  /** Why Windows waits for a reboot (the registry keys administrators check); empty when none. */
  rebootPending(): Promise<string[]> {
    return this.session.run(REBOOT_PENDING);
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
