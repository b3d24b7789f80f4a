// Run one of our scripts as another account (the Qlik service account): its CurrentUser certificate stores are
// reachable only by a process running as that account. `Start-Process -Credential` does not work from a WinRM or
// service session (no interactive logon to start it in), and certutil's -user means the caller's own store; a
// scheduled task registered with the account's password runs as that account non-interactively. The script and
// its arguments (a PFX password among them) go through a file in a folder only SYSTEM, Administrators and the
// account can open, never through the task's command line; the task, the folder and the files are removed after.
import { psLiteral } from '../quote.js';
import { psScript } from './script.js';

export const RUNNER = [
  "$ErrorActionPreference = 'Stop'",
  '$dir = Split-Path -Parent $MyInvocation.MyCommand.Path',
  "$in = Join-Path -Path $dir -ChildPath 'in.json'",
  '$job = ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($in))',
  'Remove-Item -LiteralPath $in -Force',
  'try {',
  '  $h = @{}; foreach ($p in $job.args.PSObject.Properties) { $h[$p.Name] = $p.Value }',
  '  $r = @{ ok = $true; value = (& ([scriptblock]::Create($job.script)) @h) }',
  '} catch { $r = @{ ok = $false; error = $_.Exception.Message; type = $_.Exception.GetType().FullName } }',
  "[System.IO.File]::WriteAllText((Join-Path -Path $dir -ChildPath 'out.json'), (ConvertTo-Json -InputObject $r -Compress -Depth 8))",
].join('\n');

export const AS_ACCOUNT = psScript(
  'machine.as-account',
  ['Account', 'Password', 'Script', 'Arguments', 'TaskName', 'TimeoutMs'],
  `
$dir = Join-Path -Path $env:ProgramData -ChildPath ('qsadmin\\as-account\\' + $TaskName)
$null = New-Item -ItemType Directory -Path $dir -Force
$null = icacls $dir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' ($Account + ':(OI)(CI)M')
[System.IO.File]::WriteAllText((Join-Path -Path $dir -ChildPath 'in.json'), (ConvertTo-Json -InputObject @{ script = $Script; args = $Arguments } -Compress -Depth 8))
$runner = Join-Path -Path $dir -ChildPath 'run.ps1'
[System.IO.File]::WriteAllText($runner, ${psLiteral(RUNNER)})
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "' + $runner + '"')
$null = Register-ScheduledTask -TaskName $TaskName -TaskPath '\\qsadmin\\' -Action $action -User $Account -Password $Password -RunLevel Highest
try {
  Start-ScheduledTask -TaskName $TaskName -TaskPath '\\qsadmin\\'
  $out = Join-Path -Path $dir -ChildPath 'out.json'
  $deadline = (Get-Date).AddMilliseconds($TimeoutMs)
  while (-not (Test-Path -LiteralPath $out)) {
    if ((Get-Date) -gt $deadline) { throw ('the task running as ' + $Account + ' did not finish within ' + ($TimeoutMs / 1000) + ' s') }
    Start-Sleep -Milliseconds 200
  }
  Start-Sleep -Milliseconds 100
  $r = ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($out))
} finally {
  Unregister-ScheduledTask -TaskName $TaskName -TaskPath '\\qsadmin\\' -Confirm:$false
  Remove-Item -LiteralPath $dir -Recurse -Force
}
if (-not $r.ok) { throw ('as ' + $Account + ': ' + $r.error) }
$r.value
`,
);
