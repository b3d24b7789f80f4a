// `qsadmin preflight`: the guide's requirements for a node (digest §1 "System requirements", pre-flight list), each
// pass, warn or fail with its reason. Everything is read through the Host (machine inventory, accounts, ports,
// connections, files), so the same checks run on an emulated node and, through PowerShell, on Windows.
import { joinLike } from '../host/paths.js';
import type { Host } from '../host/types.js';
import { QLIK_SERVICES, QRS_API_PORT, QRS_STATE_PORT } from '../site/services.js';
import { serviceUserProblem } from './spc.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface PreflightCheck {
  id: string;
  title: string;
  status: CheckStatus;
  reason: string;
}

export interface PreflightInputs {
  role: 'central' | 'rim';
  /** The node being checked (qsadmin runs on it). */
  host: Host;
  /** The Qlik hostname the node will have. */
  hostname: string;
  /** The repository database, when the node will use one it does not install (a rim, or central on a dedicated server). */
  database?: { host: string; port: number };
  /** Central with InstallLocalDb: the database port that must be free here. */
  localDbPort?: number;
  /** The share root, as this node names it. */
  share?: string;
  serviceAccount?: { name: string; password?: string };
  /** For a rim: the central node (its host and address, QRS ports with the emulator's offset applied). */
  central?: { host: Host; address: string; api: number; state: number };
  /** This node's own QRS ports as the central node dials them (offset applied). */
  self?: { address: string; api: number; state: number };
  /** For upgrades: the account that did the original install. */
  originalInstaller?: string;
}

const GB = 1024 ** 3;
const DOTNET_48 = 528040;
const SKEW_WARN_MS = 60_000;
const SKEW_FAIL_MS = 5 * 60_000; // Kerberos' default tolerance

/** Every port a Qlik node listens on (the documented ports of its services, guide §1.3). */
export function nodePorts(): number[] {
  return [...new Set(QLIK_SERVICES.flatMap((s) => s.ports))].sort((a, b) => a - b);
}

function check(id: string, title: string, status: CheckStatus, reason: string): PreflightCheck {
  return { id, title, status, reason };
}

// Run a check that may throw (a node that cannot be asked): a failure naming the error, not a crash.
async function guarded(id: string, title: string, fn: () => Promise<PreflightCheck | PreflightCheck[]>): Promise<PreflightCheck[]> {
  try {
    const r = await fn();
    return Array.isArray(r) ? r : [r];
  } catch (e) {
    return [check(id, title, 'fail', `cannot be checked: ${(e as Error).message}`)];
  }
}

/** The checks, in the order an administrator reads them. */
export async function runPreflight(o: PreflightInputs): Promise<PreflightCheck[]> {
  const h = o.host;
  const out: PreflightCheck[] = [];
  out.push(...(await guarded('machine', 'Machine', async () => {
    const inv = await h.machine.inventory();
    const list: PreflightCheck[] = [];
    const server = /server/i.test(inv.os.caption);
    list.push(inv.os.build < 14393
      ? check('os', 'Operating system', 'fail', `${inv.os.caption} ${inv.os.version} is older than Windows Server 2016 (setup exits -20)`)
      : check('os', 'Operating system', server ? 'pass' : 'warn', `${inv.os.caption} ${inv.os.version}${server ? '' : ': Windows 10/11 are for development and test only'}`));
    list.push(check('avx', 'CPU supports AVX', inv.avx ? 'pass' : 'fail', inv.avx ? 'AVX present' : 'the CPU (or the VM\'s CPU model) does not expose AVX, which the engine requires'));
    list.push(check('memory', 'Memory (8 GB minimum)', inv.memoryBytes >= 8 * GB ? 'pass' : 'fail', `${(inv.memoryBytes / GB).toFixed(1)} GB`));
    list.push(check('disk', 'Free disk (5 GB to install)', inv.freeBytes >= 5 * GB ? 'pass' : 'fail', `${(inv.freeBytes / GB).toFixed(1)} GB free on the system drive${inv.freeBytes >= 5 * GB ? '' : ' (setup exits -1601)'}`));
    list.push(inv.dotnetRelease !== null && inv.dotnetRelease >= DOTNET_48
      ? check('dotnet', '.NET Framework 4.8', 'pass', `release ${inv.dotnetRelease}`)
      : check('dotnet', '.NET Framework 4.8', 'fail', `${inv.dotnetRelease === null ? '.NET Framework 4 is not installed' : `release ${inv.dotnetRelease} is older than 4.8 (528040)`}: a silent install cannot answer setup's .NET prompt; install .NET 4.8 and restart first`));
    const major = Number(inv.powershellVersion.split('.')[0]);
    list.push(check('powershell', 'PowerShell 4.0 or later', major >= 4 ? 'pass' : 'fail', `PowerShell ${inv.powershellVersion}`));
    const policy = inv.executionPolicy.toLowerCase();
    list.push(['restricted', 'allsigned'].includes(policy)
      ? check('execution-policy', 'Execution policy lets unsigned scripts run', 'fail', `${inv.executionPolicy}: setup runs unsigned PowerShell scripts; set RemoteSigned or Bypass for the install (Set-ExecutionPolicy -Scope Process Bypass is not enough: setup starts its own PowerShell)`)
      : check('execution-policy', 'Execution policy lets unsigned scripts run', policy === 'undefined' ? 'warn' : 'pass', inv.executionPolicy));
    list.push(inv.blankPassword === true
      ? check('caller-password', 'The caller has a non-blank password', 'fail', 'this account has a blank password: setup needs an administrator with a password')
      : check('caller-password', 'The caller has a non-blank password', inv.blankPassword === null ? 'warn' : 'pass', inv.blankPassword === null ? 'a domain account: Windows cannot tell here; the guide requires a non-blank password' : 'not blank'));
    return list;
  })));
  out.push(...(await guarded('caller', 'The caller is an elevated administrator', async () => {
    const me = await h.machine.identity();
    const list = [check('caller', 'The caller is an elevated administrator', me.elevated ? 'pass' : 'fail', me.elevated ? `${me.user}, elevated` : `${me.user} is not elevated: run from an elevated prompt (setup's UAC prompt is never answered in a silent run)`)];
    if (o.originalInstaller) {
      const same = me.user.toLowerCase() === o.originalInstaller.toLowerCase();
      list.push(check('original-installer', 'The account that did the original install', same ? 'pass' : 'fail', same ? me.user : `${me.user} is not ${o.originalInstaller}: run as the account that installed the site, or the node will not find its certificates`));
    }
    return list;
  })));
  out.push(...(await guarded('reboot', 'No reboot pending', async () => {
    const r = await h.machine.rebootPending();
    return check('reboot', 'No reboot pending', r.length ? 'fail' : 'pass', r.length ? `${r.join('; ')}: restart first (setup exits -8)` : 'none');
  })));
  out.push(...(await guarded('hostname', 'The hostname resolves to this machine', async () => {
    const r = await h.machine.resolve(o.hostname);
    if (!r.addresses.length) return check('hostname', 'The hostname resolves to this machine', 'fail', `${o.hostname} does not resolve: add it to DNS (other nodes reach this node by it, and its certificate carries it)`);
    return check('hostname', 'The hostname resolves to this machine', r.local ? 'pass' : 'fail', `${o.hostname} → ${r.addresses.join(', ')}${r.local ? '' : ': not an address of this machine'}`);
  })));
  out.push(...(await guarded('ports', 'Ports free on this node', async () => {
    const wanted = [...nodePorts(), ...(o.localDbPort ? [o.localDbPort] : [])];
    const used = await h.machine.portsInUse(wanted);
    return check('ports', 'Ports free on this node', used.length ? 'fail' : 'pass', used.length ? `in use: ${used.join(', ')} (stop what listens there, or choose another server)` : `${wanted.length} ports free`);
  })));
  if (o.database) {
    const db = o.database;
    out.push(...(await guarded('database', 'The repository database is reachable', async () => {
      const ok = await h.machine.canConnect(db.host, db.port);
      return check('database', 'The repository database is reachable', ok ? 'pass' : 'fail', ok ? `${db.host}:${db.port}` : `${db.host}:${db.port} does not accept connections from this node: check the database service, listen_addresses and the firewall (port 4432)`);
    })));
  }
  if (o.central) {
    const c = o.central;
    out.push(...(await guarded('to-central', 'This node reaches the central node on 4242 and 4444', async () => {
      const api = await h.machine.canConnect(c.address, c.api);
      const state = await h.machine.canConnect(c.address, c.state);
      return check('to-central', 'This node reaches the central node on 4242 and 4444', api && state ? 'pass' : 'fail', api && state ? `${c.address}: both open` : `${c.address}: ${[!api && `${QRS_API_PORT}`, !state && `${QRS_STATE_PORT}`].filter(Boolean).join(' and ')} closed or filtered (guide §1.3: open them both ways)`);
    })));
    if (o.self) {
      const me = o.self;
      out.push(...(await guarded('from-central', 'The central node reaches this node on 4444', async () => {
        if ((await h.machine.portsInUse([QRS_STATE_PORT])).length === 0) return check('from-central', 'The central node reaches this node on 4444', 'warn', 'nothing listens on 4444 here yet: cluster join checks it once Qlik Sense is installed');
        const ok = await c.host.machine.canConnect(me.address, me.state);
        return check('from-central', 'The central node reaches this node on 4444', ok ? 'pass' : 'fail', ok ? `${me.address}:4444 open from the central node` : `the central node cannot reach ${me.address}:4444: open it in this node's firewall`);
      })));
    }
    out.push(...(await guarded('clock', 'Clock in step with the central node', async () => {
      const [mine, theirs] = await Promise.all([h.machine.inventory(), c.host.machine.inventory()]);
      const skew = Math.abs(mine.clockMs - theirs.clockMs);
      const status: CheckStatus = skew >= SKEW_FAIL_MS ? 'fail' : skew >= SKEW_WARN_MS ? 'warn' : 'pass';
      return check('clock', 'Clock in step with the central node', status, `${(skew / 1000).toFixed(1)} s apart${status === 'pass' ? '' : ': sync both with the domain\'s time source (Kerberos allows 5 minutes)'}`);
    })));
  }
  if (o.share) {
    const share = o.share;
    out.push(...(await guarded('share', 'The share is reachable and writable', async () => {
      const probe = joinLike(share, `.qsadmin-preflight-${process.pid}`);
      await h.files.write(probe, 'qsadmin preflight: safe to delete\n');
      await h.files.remove(probe);
      return check('share', 'The share is reachable and writable', 'pass', `${share} (written as the caller; setup checks the service account's access)`);
    })));
  }
  if (o.serviceAccount) {
    const sa = o.serviceAccount;
    out.push(...(await guarded('service-account', 'The service account', async () => {
      const form = serviceUserProblem(sa.name);
      if (form) return check('service-account', 'The service account', 'fail', form);
      const a = await h.machine.account(sa.name, sa.password);
      if (!a.exists) return check('service-account', 'The service account', 'fail', `${sa.name} does not exist (setup exits -13)`);
      if (a.password === 'wrong') return check('service-account', 'The service account', 'fail', `the password given for ${sa.name} is wrong (setup exits -13)`);
      if (!a.admin) return check('service-account', 'The service account', 'warn', `${sa.name} is not a local administrator: setup will not start the services; add it to Qlik Sense Service Users and Performance Monitor Users and bootstrap (guide §2.11)`);
      return check('service-account', 'The service account', 'pass', `${sa.name}, local administrator${a.password === 'valid' ? ', password valid' : ''}`);
    })));
  }
  return out;
}

/** One line per check, for the terminal. */
export function formatPreflight(checks: PreflightCheck[]): string {
  const mark: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };
  return checks.map((c) => `${mark[c.status]}  ${c.title}: ${c.reason}`).join('\n');
}
