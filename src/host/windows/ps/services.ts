// Service control through System.ServiceProcess.ServiceController: Start()/Stop() then WaitForStatus(status,
// timeout), because Start-Service and Stop-Service take no timeout. Win32 errors (1068 dependency, 1053 timeout,
// 1060 not installed, 1061 cannot accept control) come back as numbers the driver maps to ServiceControlError.
import { psScript } from './script.js';

/** State, pid and logon account of the named services; a service that is not installed is "absent". */
export const SERVICE_LIST = psScript(
  'service.list',
  ['Names'],
  `
$found = @{}
foreach ($s in Get-CimInstance -ClassName Win32_Service) { $found[$s.Name] = $s }
$out = @()
foreach ($n in $Names) {
  $s = $found[$n]
  if ($null -eq $s) { $out += @{ name = $n; state = 'absent' } }
  else { $out += @{ name = $n; state = [string]$s.State; pid = [int]$s.ProcessId; account = [string]$s.StartName; path = [string]$s.PathName } }
}
, $out
`,
);

/** Start or stop one service and wait for it; a service already in the wanted state is left alone. */
export const SERVICE_CONTROL = psScript(
  'service.control',
  ['Name', 'Verb', 'TimeoutMs'],
  `
Add-Type -AssemblyName System.ServiceProcess
$want = if ($Verb -eq 'start') { [System.ServiceProcess.ServiceControllerStatus]::Running } else { [System.ServiceProcess.ServiceControllerStatus]::Stopped }
$sc = New-Object -TypeName System.ServiceProcess.ServiceController -ArgumentList $Name
try { $null = $sc.Status } catch { return @{ ok = $false; win32 = 1060; message = $_.Exception.Message } }
if ($sc.Status -eq $want) { return @{ ok = $true; state = [string]$sc.Status; already = $true } }
try {
  if ($Verb -eq 'start') { $sc.Start() } else { $sc.Stop() }
} catch {
  $inner = $_.Exception.InnerException
  $code = if ($null -ne $inner -and $null -ne $inner.NativeErrorCode) { [int]$inner.NativeErrorCode } else { 0 }
  return @{ ok = $false; win32 = $code; message = $_.Exception.Message }
}
try {
  $sc.WaitForStatus($want, [System.TimeSpan]::FromMilliseconds($TimeoutMs))
} catch {
  $sc.Refresh()
  return @{ ok = $false; win32 = 1053; timeout = $true; state = [string]$sc.Status; message = $_.Exception.Message }
}
@{ ok = $true; state = [string]$sc.Status }
`,
);

/**
 * The opt-in fallback for a Qlik service stuck in StopPending: end its process (what administrators do by hand in
 * Task Manager or with taskkill /F; the guide has no step for it), then wait for the service to report Stopped.
 * The service is found by name among Win32_Service rows, never through a WQL filter built from text.
 */
export const SERVICE_END_PROCESS = psScript(
  'service.end-process',
  ['Name', 'TimeoutMs'],
  `
$svc = Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $Name }
if ($null -eq $svc) { return @{ ok = $false; pid = 0; state = 'absent'; message = 'not installed' } }
$id = [int]$svc.ProcessId
if ($id -gt 0) { Stop-Process -Id $id -Force -ErrorAction SilentlyContinue }
Add-Type -AssemblyName System.ServiceProcess
$sc = New-Object -TypeName System.ServiceProcess.ServiceController -ArgumentList $Name
try { $sc.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Stopped, [System.TimeSpan]::FromMilliseconds($TimeoutMs)) } catch { return @{ ok = $false; pid = $id; state = [string]$sc.Status; message = $_.Exception.Message } }
@{ ok = $true; pid = $id; state = 'Stopped' }
`,
);
