<#
.SYNOPSIS
  Nightly qsadmin backup: create a backup set, append the JSON result to a log monitoring can read, prune.
.DESCRIPTION
  Run by the Task Scheduler task from templates\qsadmin-nightly-backup.task.xml as the Qlik service account.
  Passwords come from the machine's environment (QSADMIN_DB_PASSWORD, QSADMIN_CERT_PASSWORD), never from
  arguments. Exits non-zero when the backup or the prune fails, so the task shows the failure.
#>
param(
  [Parameter(Mandatory = $true)][string]$Target,
  [Parameter(Mandatory = $true)][string]$LogFile,
  [string]$Qsadmin = 'qsadmin',
  [int]$KeepDaily = 7,
  [int]$KeepWeekly = 4,
  [int]$KeepMonthly = 12
)

$ErrorActionPreference = 'Stop'

function Write-Result {
  param([string]$Line)
  # One JSON object per line: the monitoring side reads the last line.
  Add-Content -LiteralPath $LogFile -Value $Line -Encoding UTF8
}

$create = & $Qsadmin backup create --to $Target --json --yes 2>$null
$createCode = $LASTEXITCODE
if ($create) { Write-Result -Line (($create | Out-String).Trim() -replace "`r?`n", ' ') }
else { Write-Result -Line ('{"status":"error","exitCode":' + $createCode + ',"error":{"message":"qsadmin printed no result"}}') }
if ($createCode -ne 0) {
  exit $createCode
}

$prune = & $Qsadmin backup prune --to $Target --keep-daily $KeepDaily --keep-weekly $KeepWeekly --keep-monthly $KeepMonthly --json 2>$null
$pruneCode = $LASTEXITCODE
if ($prune) { Write-Result -Line (($prune | Out-String).Trim() -replace "`r?`n", ' ') }
exit $pruneCode
