// The Windows form of "0600/0700": an ACL with inheritance cut and exactly two entries, full control for the calling
// account and for SYSTEM (S-1-5-18), set by the call that creates the folder or file (Directory.CreateDirectory /
// File.Create with a security descriptor, .NET Framework 4.x). Setting it afterwards with icacls would leave the
// parent's inherited ACL (often Users: read) in force between the two calls. Files created later inside a private
// folder inherit its two entries; `icacls <path>` then shows only the caller and NT AUTHORITY\SYSTEM, no (I) entries.
import { psScript } from './script.js';

function securityDescriptor(kind: 'DirectorySecurity' | 'FileSecurity'): string {
  const inherit = kind === 'DirectorySecurity' ? "'ContainerInherit,ObjectInherit'" : "'None'";
  return `
$sec = New-Object -TypeName System.Security.AccessControl.${kind}
$sec.SetAccessRuleProtection($true, $false)
$me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User
$system = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-18'
foreach ($sid in @($me, $system)) {
  $sec.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList $sid, 'FullControl', ${inherit}, 'None', 'Allow'))
}`;
}

/** A folder and its missing parents, private to the caller and SYSTEM; an existing folder is left as it is. */
export const MKDIR_PRIVATE = psScript(
  'file.mkdir-private',
  ['Dir'],
  `
${securityDescriptor('DirectorySecurity')}
$missing = @()
$p = $Dir
while ($p -and -not (Test-Path -LiteralPath $p)) { $missing = @($p) + $missing; $p = Split-Path -Parent $p }
if ($p -and -not (Test-Path -LiteralPath $p -PathType Container)) { throw ($p + ' is a file, not a folder') }
foreach ($m in $missing) { $null = [System.IO.Directory]::CreateDirectory($m, $sec) }
$true
`,
);

/** A whole file, private: written into a new temporary file created with the ACL, then moved over the name. */
export const WRITE_PRIVATE = psScript(
  'file.write-private',
  ['File', 'Base64'],
  `
${securityDescriptor('FileSecurity')}
$bytes = [System.Convert]::FromBase64String($Base64)
$tmp = $File + '.' + $PID + '.tmp'
$stream = [System.IO.File]::Create($tmp, 65536, [System.IO.FileOptions]::WriteThrough, $sec)
try { $stream.Write($bytes, 0, $bytes.Length) } finally { $stream.Dispose() }
Move-Item -LiteralPath $tmp -Destination $File -Force
$true
`,
);
