// What the emulated service control manager checks when it starts a Qlik service as its Log On account:
// - the account must exist and the password the service holds must be the account's current one, else Windows
//   error 1069 "The service did not start due to a logon failure" (documented Windows behaviour; the guide's §2.11 C
//   is why the password on each service's Log On tab must be updated after a change);
// - EMULATOR ASSUMPTION (the guide states the requirements, not the failure): an account that is not an
//   administrator also needs Full control on %ProgramData%\Qlik\Sense, membership of Qlik Sense Service Users, and,
//   for the Proxy, Scheduler and Repository services, their executable run once with -bootstrap (§2.11 B steps 2, 5,
//   7-9); without them the service ends at start (error 1067) naming what is missing. Switch off with
//   site.emulator.assumptions.nonAdminNeedsBootstrap = false.
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { SERVICE_USER_GROUPS } from '../../host/accounts.js';
import { EmulatedAccounts, EmulatedDirectory, EmulatedLocalSecurity, isBuiltinAccount } from '../../host/emulated/accounts.js';
import { ServiceControlError, serviceLabel } from '../../host/service-errors.js';

const PROGRAM_DATA = 'C:\\ProgramData\\Qlik\\Sense';
/** The executables the guide runs with -bootstrap, by the service they belong to. */
export const BOOTSTRAP_EXE: Record<string, string> = {
  QlikSenseProxyService: 'proxy.exe',
  QlikSenseSchedulerService: 'scheduler.exe',
  QlikSenseRepositoryService: 'repository.exe',
};

/** Throws the error Windows (or, where labelled, the emulator) gives when the service cannot run as its Log On account. */
export async function checkServiceLogon(site: SiteConfig, node: NodeConfig, service: string): Promise<void> {
  const local = new EmulatedLocalSecurity(site, node);
  const record = local.logon(service);
  if (!record || isBuiltinAccount(record.account)) return;
  const directory = EmulatedDirectory.of(site, node);
  if (!directory.logonValid(record)) {
    throw new ServiceControlError('LOGON', service, `Service '${serviceLabel(service)}' on ${node.name} did not start due to a logon failure (Windows error 1069): the password on its Log On tab is not the current password of ${record.account}. Set it again (qsadmin service-account rotate-password)`);
  }
  if ((site.emulator as { assumptions?: { nonAdminNeedsBootstrap?: boolean } } | undefined)?.assumptions?.nonAdminNeedsBootstrap === false) return;
  const info = await new EmulatedAccounts(site, node).lookup(record.account);
  if (info.administrator) return;
  const missing: string[] = [];
  if (!(await new EmulatedAccounts(site, node).hasFullControl(PROGRAM_DATA, record.account))) missing.push(`Full control on ${PROGRAM_DATA}`);
  for (const g of SERVICE_USER_GROUPS) if (!info.groups.includes(g)) missing.push(`membership of ${g}`);
  const exe = BOOTSTRAP_EXE[service];
  if (exe && !local.bootstrapped(exe)) missing.push(`${exe} -bootstrap run since Qlik Sense was installed`);
  if (missing.length) {
    throw new ServiceControlError('TERMINATED', service, `Service '${serviceLabel(service)}' on ${node.name} terminated unexpectedly at start (Windows error 1067): ${record.account} is not an administrator and lacks ${missing.join(', ')} (guide §2.11 B) [emulator assumption nonAdminNeedsBootstrap]`);
  }
}
