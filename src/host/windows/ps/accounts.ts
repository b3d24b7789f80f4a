// Accounts, local groups, folder ACLs and the services' Log On through PowerShell (guide §2.11 B and C). Account
// names travel as parameters (never spliced into the script text); the password reaches PowerShell only through the
// session's stdin as a parameter, never a command line. Built-in groups are found by their well-known SIDs
// (Administrators S-1-5-32-544), since their names are translated on localized Windows.
import { psScript } from './script.js';

const SID_OF_ACCOUNT = `
$nt = New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList $Account
$sid = $nt.Translate([System.Security.Principal.SecurityIdentifier])`;

/** Does the account exist (its name maps to a SID), which local groups is it a direct member of, is it an administrator. */
export const ACCOUNT_LOOKUP = psScript(
  'account.lookup',
  ['Account'],
  `
try {${SID_OF_ACCOUNT}
} catch { return @{ exists = $false; administrator = $false; groups = @() } }
$groups = @()
$admin = $false
foreach ($g in Get-LocalGroup) {
  $m = Get-LocalGroupMember -Group $g.Name -ErrorAction SilentlyContinue | Where-Object { $_.SID -eq $sid }
  if ($null -ne $m) {
    $groups += [string]$g.Name
    if ([string]$g.SID -eq 'S-1-5-32-544') { $admin = $true }
  }
}
@{ exists = $true; administrator = $admin; groups = $groups }
`,
);

/** A logon check of the password (PrincipalContext.ValidateCredentials): nothing changes. */
export const ACCOUNT_CHECK_PASSWORD = psScript(
  'account.check-password',
  ['Account', 'Password'],
  `
Add-Type -AssemblyName System.DirectoryServices.AccountManagement
$parts = $Account.Split('\\')
if ($parts.Length -eq 2 -and ($parts[0] -eq '.' -or $parts[0] -eq $env:COMPUTERNAME)) {
  $ctx = New-Object -TypeName System.DirectoryServices.AccountManagement.PrincipalContext -ArgumentList ([System.DirectoryServices.AccountManagement.ContextType]::Machine)
  $user = $parts[1]
} elseif ($parts.Length -eq 2) {
  $ctx = New-Object -TypeName System.DirectoryServices.AccountManagement.PrincipalContext -ArgumentList ([System.DirectoryServices.AccountManagement.ContextType]::Domain), $parts[0]
  $user = $parts[1]
} else {
  $ctx = New-Object -TypeName System.DirectoryServices.AccountManagement.PrincipalContext -ArgumentList ([System.DirectoryServices.AccountManagement.ContextType]::Domain)
  $user = $Account
}
try { [bool]$ctx.ValidateCredentials($user, $Password) } finally { $ctx.Dispose() }
`,
);

/** Add the account to a local group (Computer Management > Local Users and Groups > Groups); a member already is fine. */
export const ACCOUNT_ADD_TO_GROUP = psScript(
  'account.add-to-group',
  ['Account', 'Group'],
  `
$present = Get-LocalGroupMember -Group $Group -Member $Account -ErrorAction SilentlyContinue
if ($null -eq $present) { Add-LocalGroupMember -Group $Group -Member $Account }
$true
`,
);

/** Full control on the folder for the account, inherited by subfolders and files (Security tab > Advanced). */
export const ACL_GRANT_FULL_CONTROL = psScript(
  'acl.grant-full-control',
  ['Path', 'Account'],
  `
$acl = Get-Acl -LiteralPath $Path
$rule = New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList $Account, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow'
$acl.AddAccessRule($rule)
Set-Acl -LiteralPath $Path -AclObject $acl
$true
`,
);

/** Whether the folder's ACL has an Allow entry with Full control for the account. */
export const ACL_HAS_FULL_CONTROL = psScript(
  'acl.has-full-control',
  ['Path', 'Account'],
  `
$acl = Get-Acl -LiteralPath $Path
try {${SID_OF_ACCOUNT}
} catch { return $false }
$full = [System.Security.AccessControl.FileSystemRights]::FullControl
$found = $false
foreach ($r in $acl.Access) {
  if ([string]$r.AccessControlType -ne 'Allow') { continue }
  try { $rs = $r.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]) } catch { continue }
  if ($rs -eq $sid -and ($r.FileSystemRights -band $full) -eq $full) { $found = $true }
}
$found
`,
);

/**
 * The Log On tab: Win32_Service.Change with StartName and StartPassword. Its return value 0 is success; 22 is "the
 * account under which this service runs is either invalid or lacks the permissions" (Windows error 1057).
 */
export const SERVICE_SET_LOGON = psScript(
  'service.set-logon',
  ['Name', 'Account', 'Password'],
  `
$svc = Get-CimInstance -ClassName Win32_Service -Filter ("Name='" + $Name.Replace("'", "\\'") + "'")
if ($null -eq $svc) { return @{ ok = $false; returnValue = -1 } }
$r = Invoke-CimMethod -InputObject $svc -MethodName Change -Arguments @{ StartName = $Account; StartPassword = $Password }
@{ ok = ([int]$r.ReturnValue -eq 0); returnValue = [int]$r.ReturnValue }
`,
);
