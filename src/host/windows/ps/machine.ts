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

// What an install needs of the machine (guide §1 system requirements): OS, AVX (IsProcessorFeaturePresent 39,
// PF_AVX_INSTRUCTIONS_AVAILABLE), memory, free space on the system drive, .NET 4 release, PowerShell, execution policy,
// the clock, and whether the caller's local account has a blank password (null for a domain account: Windows cannot tell).
export const INVENTORY = psScript(
  'machine.inventory',
  [],
  `
$os = Get-CimInstance -ClassName Win32_OperatingSystem
if (-not ('QsAdmin.Cpu' -as [type])) {
  Add-Type -Namespace QsAdmin -Name Cpu -MemberDefinition '[DllImport("kernel32.dll")] public static extern bool IsProcessorFeaturePresent(uint feature);'
}
$disk = Get-CimInstance -ClassName Win32_LogicalDisk -Filter ("DeviceID='" + $env:SystemDrive + "'")
$ndp = Get-ItemProperty -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full' -Name Release -ErrorAction SilentlyContinue
$release = $null
if ($null -ne $ndp) { $release = [int]$ndp.Release }
$blank = $null
$id = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
$parts = $id.Split('\\')
if ($parts.Length -eq 2 -and $parts[0] -eq $env:COMPUTERNAME) {
  Add-Type -AssemblyName System.DirectoryServices.AccountManagement
  $ctx = New-Object -TypeName System.DirectoryServices.AccountManagement.PrincipalContext -ArgumentList ([System.DirectoryServices.AccountManagement.ContextType]::Machine)
  $blank = [bool]$ctx.ValidateCredentials($parts[1], '')
}
@{
  os = @{ caption = [string]$os.Caption; version = [string]$os.Version; build = [int]$os.BuildNumber }
  avx = [bool][QsAdmin.Cpu]::IsProcessorFeaturePresent(39)
  memoryBytes = [double]$os.TotalVisibleMemorySize * 1024
  freeBytes = [double]$disk.FreeSpace
  dotnetRelease = $release
  powershellVersion = $PSVersionTable.PSVersion.ToString()
  executionPolicy = [string](Get-ExecutionPolicy)
  clockMs = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
  blankPassword = $blank
}
`,
);

// Which of the given TCP ports something listens on (any local address).
export const PORTS_IN_USE = psScript(
  'machine.ports-in-use',
  ['Ports'],
  `
$listening = @(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue | ForEach-Object { [int]$_.LocalPort })
, @($Ports | Where-Object { $listening -contains [int]$_ } | ForEach-Object { [int]$_ } | Sort-Object -Unique)
`,
);

// A TCP connect from this node to host:port within the timeout (Test-NetConnection is slower and prints a banner).
export const CAN_CONNECT = psScript(
  'machine.can-connect',
  ['Address', 'Port', 'TimeoutMs'],
  `
$client = New-Object -TypeName System.Net.Sockets.TcpClient
try {
  $task = $client.ConnectAsync($Address, [int]$Port)
  $ok = $task.Wait([int]$TimeoutMs) -and $client.Connected
} catch {
  $ok = $false
} finally {
  $client.Dispose()
}
[bool]$ok
`,
);

// Whether an account exists (its SID resolves), is in the local Administrators group (S-1-5-32-544), and, when a
// password is given, whether it is the account's (the domain's or this machine's account store checks it).
export const ACCOUNT = psScript(
  'machine.account',
  ['Name', 'Password', 'CheckPassword'],
  `
$exists = $true
try { $sid = (New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList $Name).Translate([System.Security.Principal.SecurityIdentifier]) } catch { $exists = $false }
if (-not $exists) { return @{ exists = $false; admin = $false } }
$admins = @(Get-LocalGroupMember -SID 'S-1-5-32-544' -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.SID })
$result = @{ exists = $true; admin = ($admins -contains $sid.Value); password = 'unchecked' }
if ($CheckPassword) {
  Add-Type -AssemblyName System.DirectoryServices.AccountManagement
  $domain = $env:COMPUTERNAME
  $user = $Name
  if ($Name.Contains('\\')) { $domain = $Name.Split('\\')[0]; $user = $Name.Split('\\')[1] }
  $type = [System.DirectoryServices.AccountManagement.ContextType]::Domain
  if ($domain -eq $env:COMPUTERNAME -or $domain -eq '.') { $type = [System.DirectoryServices.AccountManagement.ContextType]::Machine }
  $ctx = New-Object -TypeName System.DirectoryServices.AccountManagement.PrincipalContext -ArgumentList $type
  if ($ctx.ValidateCredentials($user, $Password)) { $result.password = 'valid' } else { $result.password = 'wrong' }
}
$result
`,
);

// POST a form to http://localhost:<port><path> on this node (QRS's certificate unlock port 4570 answers only localhost).
export const POST_LOCAL_FORM = psScript(
  'machine.post-local-form',
  ['Port', 'UrlPath', 'Fields'],
  `
$form = @{}
foreach ($p in $Fields.PSObject.Properties) { $form[$p.Name] = [string]$p.Value }
try {
  $r = Invoke-WebRequest -UseBasicParsing -Uri ('http://localhost:' + [int]$Port + $UrlPath) -Method Post -Body $form -TimeoutSec 30
  @{ status = [int]$r.StatusCode; body = [string]$r.Content }
} catch [System.Net.WebException] {
  $resp = $_.Exception.Response
  if ($null -eq $resp) { throw }
  $reader = New-Object -TypeName System.IO.StreamReader -ArgumentList $resp.GetResponseStream()
  @{ status = [int]$resp.StatusCode; body = $reader.ReadToEnd() }
}
`,
);

// The addresses a hostname resolves to here (DNS or the hosts file), and whether one is an address of this machine.
export const RESOLVE = psScript(
  'machine.resolve',
  ['Hostname'],
  `
$found = @()
try { $found = @([System.Net.Dns]::GetHostAddresses($Hostname) | ForEach-Object { $_.IPAddressToString }) } catch { $found = @() }
$mine = @(Get-NetIPAddress -ErrorAction SilentlyContinue | ForEach-Object { $_.IPAddress })
$local = $false
foreach ($a in $found) { if ($mine -contains $a -or $a -eq '127.0.0.1' -or $a -eq '::1') { $local = $true } }
@{ addresses = $found; local = $local }
`,
);
