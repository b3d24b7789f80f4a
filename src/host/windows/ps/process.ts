// Run a program on a node reached by remoting (pg_dump, Repository.exe, setup): System.Diagnostics.Process with
// its output read while it runs, an exit code, and a timeout. PowerShell 5.1 runs on .NET Framework, whose
// ProcessStartInfo takes the arguments as one string: the caller joins them with CommandLineToArgvW quoting.
// Environment values (PGPASSWORD among them) are set on this process only, never on its command line.
import { psScript } from './script.js';

export const PROCESS_RUN = psScript(
  'process.run',
  ['File', 'CommandLine', 'Environment', 'InputText', 'WorkingDirectory', 'TimeoutMs'],
  `
$psi = New-Object -TypeName System.Diagnostics.ProcessStartInfo
$psi.FileName = $File
$psi.Arguments = $CommandLine
$psi.UseShellExecute = $false
$psi.CreateNoWindow = $true
$psi.RedirectStandardOutput = $true
$psi.RedirectStandardError = $true
$psi.RedirectStandardInput = $true
if ($WorkingDirectory) { $psi.WorkingDirectory = $WorkingDirectory }
foreach ($p in $Environment.PSObject.Properties) { $psi.EnvironmentVariables[$p.Name] = [string]$p.Value }
$proc = [System.Diagnostics.Process]::Start($psi)
$out = $proc.StandardOutput.ReadToEndAsync()
$err = $proc.StandardError.ReadToEndAsync()
if ($InputText) { $proc.StandardInput.Write($InputText) }
$proc.StandardInput.Close()
if (-not $proc.WaitForExit($TimeoutMs)) {
  $proc.Kill()
  return @{ exitCode = 1460; stdout = $out.Result; stderr = ($err.Result + 'timed out after ' + $TimeoutMs + ' ms') }
}
$proc.WaitForExit()
@{ exitCode = [int]$proc.ExitCode; stdout = $out.Result; stderr = $err.Result }
`,
);
