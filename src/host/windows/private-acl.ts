// The Windows driver's private-file writer: what it runs in its PowerShell session (the driver itself comes later).
//
// On Windows "0600/0700" is an ACL with inheritance cut and exactly two entries, full control for the calling
// account and for SYSTEM (S-1-5-18), set by the call that creates the folder or file: Directory.CreateDirectory /
// File.Create with a security descriptor (Windows PowerShell 5.1, .NET Framework 4.x). Setting it afterwards with
// icacls (`icacls X /inheritance:r /grant:r "%USERNAME%:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F"`) would leave the inherited
// ACL of the parent (often Users: read) in force between the two calls. Files created later inside a private folder
// inherit its two entries. `icacls <path>` shows the result: only the caller and NT AUTHORITY\SYSTEM, no (I) entries.

/** A single-quoted PowerShell literal: every quote character doubled (PowerShell also takes U+2018-U+201B as quotes). */
export function psQuote(s: string): string {
  return `'${s.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

// Builds $sec: a security descriptor of the given type with only the caller and SYSTEM, inheritance removed.
function securityDescriptor(kind: 'DirectorySecurity' | 'FileSecurity'): string {
  const inherit = kind === 'DirectorySecurity' ? "'ContainerInherit,ObjectInherit'" : "'None'";
  return [
    `$sec = New-Object System.Security.AccessControl.${kind}`,
    '$sec.SetAccessRuleProtection($true, $false)',
    '$me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User',
    "$system = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-18'",
    'foreach ($sid in @($me, $system)) {',
    `  $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($sid, 'FullControl', ${inherit}, 'None', 'Allow')`,
    '  $sec.AddAccessRule($rule)',
    '}',
  ].join('\n');
}

/** PowerShell that creates a folder (and its missing parents) private to the caller and SYSTEM; an existing folder is left as it is. */
export function mkdirPrivateScript(dir: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$dir = ${psQuote(dir)}`,
    securityDescriptor('DirectorySecurity'),
    '$missing = @()',
    '$p = $dir',
    'while ($p -and -not (Test-Path -LiteralPath $p)) { $missing = @($p) + $missing; $p = Split-Path -Parent $p }',
    "if ($p -and -not (Test-Path -LiteralPath $p -PathType Container)) { throw \"$p is a file, not a folder\" }",
    'foreach ($m in $missing) { [void][System.IO.Directory]::CreateDirectory($m, $sec) }',
  ].join('\n');
}

/**
 * PowerShell that writes a file private to the caller and SYSTEM: base64 content into a new temporary file created
 * with the ACL, then moved over the target name (Move-Item keeps the file's own ACL).
 */
export function writePrivateScript(file: string, base64: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$file = ${psQuote(file)}`,
    `$bytes = [System.Convert]::FromBase64String(${psQuote(base64)})`,
    securityDescriptor('FileSecurity'),
    "$tmp = $file + '.' + $PID + '.tmp'",
    "$stream = [System.IO.File]::Create($tmp, 65536, [System.IO.FileOptions]::WriteThrough, $sec)",
    'try { $stream.Write($bytes, 0, $bytes.Length) } finally { $stream.Dispose() }',
    'Move-Item -LiteralPath $tmp -Destination $file -Force',
  ].join('\n');
}
