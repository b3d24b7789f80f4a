// Who we run as and what state the machine is in: the checks runbooks make before they start (elevation, the
// account the guide ties an operation to, a pending reboot that an install or upgrade would trip over).
import { psScript } from './script.js';

export const IDENTITY = psScript(
  'machine.identity',
  [],
  `
$id = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object -TypeName System.Security.Principal.WindowsPrincipal -ArgumentList $id
@{ user = [string]$id.Name; elevated = [bool]$principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator); computer = [string]$env:COMPUTERNAME }
`,
);

// The registry keys administrators check for a pending reboot (Component Based Servicing, Windows Update, and
// pending file rename operations of Session Manager).
export const REBOOT_PENDING = psScript(
  'machine.reboot-pending',
  [],
  `
$reasons = @()
if (Test-Path -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending') { $reasons += 'Component Based Servicing: RebootPending' }
if (Test-Path -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired') { $reasons += 'Windows Update: RebootRequired' }
$sm = Get-ItemProperty -LiteralPath 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager' -Name PendingFileRenameOperations -ErrorAction SilentlyContinue
if ($null -ne $sm -and $null -ne $sm.PendingFileRenameOperations) { $reasons += 'Session Manager: PendingFileRenameOperations' }
, $reasons
`,
);
