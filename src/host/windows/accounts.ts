// AccountControl of a Windows node, through its PowerShell session (ps/accounts.ts).
import type { AccountControl, AccountInfo } from '../accounts.js';
import { ServiceControlError } from '../service-errors.js';
import { ACCOUNT_ADD_TO_GROUP, ACCOUNT_CHECK_PASSWORD, ACCOUNT_LOOKUP, ACL_GRANT_FULL_CONTROL, ACL_HAS_FULL_CONTROL, SERVICE_SET_LOGON } from './ps/accounts.js';
import { SERVICE_LIST } from './ps/services.js';
import type { PsSession } from './session.js';

export class WindowsAccounts implements AccountControl {
  constructor(
    private readonly session: PsSession,
    private readonly nodeName: string,
  ) {}

  async lookup(account: string): Promise<AccountInfo> {
    const r = await this.session.run<{ exists: boolean; administrator: boolean; groups: string[] | null }>(ACCOUNT_LOOKUP, { Account: account });
    return { account, exists: !!r.exists, administrator: !!r.administrator, groups: r.groups ?? [] };
  }

  async checkPassword(account: string, password: string): Promise<boolean> {
    return !!(await this.session.run<boolean>(ACCOUNT_CHECK_PASSWORD, { Account: account, Password: password }));
  }

  async addToGroup(account: string, group: string): Promise<void> {
    await this.session.run(ACCOUNT_ADD_TO_GROUP, { Account: account, Group: group });
  }

  async grantFullControl(windowsPath: string, account: string): Promise<void> {
    await this.session.run(ACL_GRANT_FULL_CONTROL, { Path: windowsPath, Account: account });
  }

  async hasFullControl(windowsPath: string, account: string): Promise<boolean> {
    return !!(await this.session.run<boolean>(ACL_HAS_FULL_CONTROL, { Path: windowsPath, Account: account }));
  }

  async serviceLogon(service: string): Promise<string | null> {
    const [row] = await this.session.run<Array<{ state: string; account?: string }>>(SERVICE_LIST, { Names: [service] });
    return !row || row.state === 'absent' ? null : (row.account ?? null);
  }

  async setServiceLogon(service: string, account: string, password: string): Promise<void> {
    const r = await this.session.run<{ ok: boolean; returnValue: number }>(SERVICE_SET_LOGON, { Name: service, Account: account, Password: password });
    if (r.ok) return;
    if (r.returnValue === -1) throw new ServiceControlError('NOT_INSTALLED', service, `Cannot find any service with service name '${service}' on node ${this.nodeName} (Windows error 1060)`);
    if (r.returnValue === 22) throw new ServiceControlError('INVALID_ACCOUNT', service, `Setting the Log On account of '${service}' on ${this.nodeName} failed: the account name is invalid or does not exist, or the password is invalid for the account name specified (Windows error 1057): ${account}`);
    throw new Error(`Win32_Service.Change for '${service}' on ${this.nodeName} returned ${r.returnValue}`);
  }
}
