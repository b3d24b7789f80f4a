<#
.SYNOPSIS
  Run qsadmin on Qlik Sense nodes through PowerShell remoting and get its --json result back as objects.
.DESCRIPTION
  Invoke-QsAdmin runs qsadmin.exe (or the npm install's qsadmin) on each computer with Invoke-Command, adds --json,
  and returns one object per computer: ComputerName, ExitCode, Ok, Result (the parsed JSON) and Output (the raw
  text, for a result that is not JSON). Secrets travel as SecureStrings inside the remoting session and become
  environment variables of the remote qsadmin only: never arguments, never in a log.

  Exit codes are qsadmin's (README "Exit codes"): 0 ok, 1 failed step, 2 bad input, 3 locked, 4 verification failed.
.EXAMPLE
  Import-Module .\QsAdmin.psm1
  $db = Read-Host -AsSecureString 'database superuser password'
  Invoke-QsAdmin -ComputerName qs-central -Arguments 'backup', 'create', '--to', 'D:\QlikBackups', '--yes' `
    -SecretEnvironment @{ QSADMIN_DB_PASSWORD = $db }
.EXAMPLE
  Invoke-QsAdmin -ComputerName qs-central, qs-dr -Arguments 'backup', 'verify', 'D:\QlikBackups\latest' |
    Where-Object { -not $_.Ok }
#>

function Invoke-QsAdmin {
  [CmdletBinding()]
  param(
    [Parameter(Mandatory = $true)]
    [string[]]$ComputerName,

    # qsadmin's arguments, one per element: 'backup', 'create', '--to', 'D:\QlikBackups'.
    [Parameter(Mandatory = $true)]
    [string[]]$Arguments,

    # Where qsadmin is on the nodes.
    [string]$QsAdminPath = 'C:\Program Files\qsadmin\qsadmin.exe',

    [pscredential]$Credential,

    [switch]$UseSSL,

    [int]$Port,

    # Plain environment variables for qsadmin (QSADMIN_STATE_DIR, QSADMIN_SITE, ...).
    [hashtable]$Environment = @{},

    # Secret environment variables (QSADMIN_DB_PASSWORD, QSADMIN_CERT_PASSWORD, ...) as SecureStrings.
    [hashtable]$SecretEnvironment = @{}
  )

  foreach ($name in $SecretEnvironment.Keys) {
    if ($SecretEnvironment[$name] -isnot [securestring]) {
      throw "SecretEnvironment['$name'] must be a SecureString (Read-Host -AsSecureString, or Get-Secret)"
    }
  }
  $argv = @($Arguments)
  if ($argv -notcontains '--json') { $argv += '--json' }

  $remote = {
    param([string]$Exe, [string[]]$Argv, [hashtable]$Plain, [hashtable]$Secret)
    foreach ($name in $Plain.Keys) { Set-Item -LiteralPath "Env:$name" -Value ([string]$Plain[$name]) }
    foreach ($name in $Secret.Keys) {
      Set-Item -LiteralPath "Env:$name" -Value ([System.Net.NetworkCredential]::new('', $Secret[$name]).Password)
    }
    try {
      # stderr carries progress; the one JSON result is on stdout.
      $out = & $Exe @Argv 2>$null
      $code = $LASTEXITCODE
    } finally {
      foreach ($name in $Secret.Keys) { Remove-Item -LiteralPath "Env:$name" -ErrorAction SilentlyContinue }
    }
    $text = ($out | Out-String).Trim()
    $parsed = $null
    try { $parsed = $text | ConvertFrom-Json } catch { $parsed = $null }
    [pscustomobject]@{
      ComputerName = $env:COMPUTERNAME
      ExitCode     = $code
      Ok           = ($code -eq 0)
      Result       = $parsed
      Output       = $text
    }
  }

  $invoke = @{
    ComputerName = $ComputerName
    ScriptBlock  = $remote
    ArgumentList = @($QsAdminPath, $argv, $Environment, $SecretEnvironment)
  }
  if ($Credential) { $invoke.Credential = $Credential }
  if ($UseSSL) { $invoke.UseSSL = $true }
  if ($Port) { $invoke.Port = $Port }
  # The array form: tree-sitter-powershell (our tests' grammar) misreads a bare comma list as a command argument.
  Invoke-Command @invoke | Select-Object -Property @('ComputerName', 'ExitCode', 'Ok', 'Result', 'Output')
}

Export-ModuleMember -Function Invoke-QsAdmin
