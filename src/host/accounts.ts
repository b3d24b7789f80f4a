// Windows accounts as the Qlik service-account procedures use them (guide §2.11 B and C): does the account exist,
// is it an administrator, which local groups it is in, is a password its current one; the local groups and the
// Full control ACL the guide asks for; and each service's Log On account and password (what services.msc's Log On
// tab sets). A runbook calls these; the driver decides how (emulated files, or PowerShell on Windows).

/** The groups a non-administrator service account must be in (guide §1.3 "User accounts", §2.11 B step 2). */
export const SERVICE_USER_GROUPS = ['Qlik Sense Service Users', 'Performance Monitor Users'] as const;

export interface AccountInfo {
  /** The name as the caller gave it. */
  account: string;
  /** False when Windows cannot map the name to a security identifier (no such account). */
  exists: boolean;
  /** Member of the node's local Administrators group (directly or as a domain administrator). */
  administrator: boolean;
  /** The node's local groups the account is a direct member of. */
  groups: string[];
}

export interface AccountControl {
  /** The account as this node sees it. */
  lookup(account: string): Promise<AccountInfo>;
  /** True when `password` is the account's current password (a logon check, nothing changes). */
  checkPassword(account: string, password: string): Promise<boolean>;
  /** Add the account to a local group of the node; a member already is fine. */
  addToGroup(account: string, group: string): Promise<void>;
  /** Grant Full control on a folder, inherited by its subfolders and files (Windows path of this node). */
  grantFullControl(windowsPath: string, account: string): Promise<void>;
  /** True when the account has an explicit Full control entry on the folder. */
  hasFullControl(windowsPath: string, account: string): Promise<boolean>;
  /** The Log On account of a service (Win32_Service StartName); null when the service is not installed. */
  serviceLogon(service: string): Promise<string | null>;
  /**
   * Set a service's Log On account and password (the service must be stopped for it to apply at its next start).
   * Refused as Windows refuses it: an account that does not exist (error 1057).
   */
  setServiceLogon(service: string, account: string, password: string): Promise<void>;
}

/** DOMAIN\user, .\user or user@domain: the forms the guide's Log On tab takes (digest §6). */
export function validAccountName(account: string): boolean {
  return /^(\.|[A-Za-z0-9][A-Za-z0-9.-]{0,62})\\[^\\/"[\]:|<>+=;,?*@]{1,104}$/.test(account) || /^[^\\/@\s]{1,104}@[A-Za-z0-9.-]+$/.test(account);
}

/** Windows compares account names without regard to case; `.\x` is a local account of the node. */
export function sameAccount(a: string, b: string, computer?: string): boolean {
  const norm = (s: string) => (computer ? s.replace(/^\.\\/, `${computer}\\`) : s).toLowerCase();
  return norm(a) === norm(b);
}
