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

// Programs and Features: the Uninstall keys (64- and 32-bit views) whose DisplayName starts with Qlik Sense or
// PostgreSQL; a Qlik Sense patch is listed as its own entry ("Qlik Sense February 2022 Patch 3").
export const INSTALLED_PRODUCTS = psScript(
  'machine.products',
  [],
  `
$keys = @('HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*', 'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*')
$rows = @(Get-ItemProperty -Path $keys -ErrorAction SilentlyContinue | Where-Object { $_.DisplayName -like 'Qlik Sense*' -or $_.DisplayName -like 'PostgreSQL*' } | ForEach-Object { @{ name = [string]$_.DisplayName; version = [string]$_.DisplayVersion } })
, $rows
`,
);

// Free bytes of the volume that holds a path (Get-Item resolves the nearest existing folder's drive).
export const FREE_BYTES = psScript(
  'machine.free-bytes',
  ['Path'],
  `
$p = $Path
while ($p -and -not (Test-Path -LiteralPath $p)) { $p = Split-Path -Path $p -Parent }
if (-not $p) { return $null }
$drive = (Get-Item -LiteralPath $p).PSDrive
[int64]$drive.Free
`,
);
