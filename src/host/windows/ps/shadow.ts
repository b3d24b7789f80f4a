// Volume Shadow Copies for the share capture (Win32_ShadowCopy, Windows Server): a shadow of the share's volume is
// taken while the services are down and read after they start again, so the downtime does not grow with the share.
import { psScript } from './script.js';

/**
 * Where a share folder really is: a drive path as it is, or a UNC path of an SMB share of this machine mapped to its
 * local folder (Get-SmbShare). `local` is null for a share on another file server (no shadow copy is possible
 * there: the share is copied while the services are down). The volume's file system decides too (NTFS or ReFS).
 */
export const SHARE_LOCATION = psScript(
  'shadow.locate',
  ['Folder'],
  `
$local = $null
if ($Folder -match '^[A-Za-z]:\\\\') { $local = $Folder }
elseif ($Folder -match '^\\\\\\\\([^\\\\]+)\\\\([^\\\\]+)(.*)$') {
  $server = $Matches[1]; $share = $Matches[2]; $rest = $Matches[3]
  $names = @($env:COMPUTERNAME.ToLower(), 'localhost', '127.0.0.1', ([System.Net.Dns]::GetHostEntry('localhost').HostName).ToLower())
  if ($names -contains $server.ToLower() -or $names -contains $server.Split('.')[0].ToLower()) {
    $smb = Get-SmbShare -Name $share -ErrorAction SilentlyContinue
    if ($null -ne $smb) { $local = $smb.Path + $rest }
  }
}
if ($null -eq $local) { return @{ local = $null } }
$volume = $local.Substring(0, 3)
$fs = (Get-CimInstance -ClassName Win32_Volume -Filter ("Name='" + $volume.Replace('\\', '\\\\') + "'")).FileSystem
@{ local = $local; volume = $volume; fileSystem = [string]$fs }
`,
);

/** Take a shadow copy of a volume and expose it at a folder (a directory symbolic link to its device). */
export const SHADOW_CREATE = psScript(
  'shadow.create',
  ['Volume', 'LinkPath'],
  `
$r = Invoke-CimMethod -ClassName Win32_ShadowCopy -MethodName Create -Arguments @{ Volume = $Volume; Context = 'ClientAccessible' }
if ($r.ReturnValue -ne 0) { throw ('Win32_ShadowCopy.Create returned ' + $r.ReturnValue + ' for ' + $Volume) }
$copy = Get-CimInstance -ClassName Win32_ShadowCopy -Filter ("ID='" + $r.ShadowID + "'")
$null = cmd.exe /c mklink /d $LinkPath ($copy.DeviceObject + '\\')
if ($LASTEXITCODE -ne 0) { $null = Get-CimInstance -ClassName Win32_ShadowCopy -Filter ("ID='" + $r.ShadowID + "'") | Remove-CimInstance; throw ('mklink failed for ' + $LinkPath) }
@{ id = [string]$r.ShadowID; device = [string]$copy.DeviceObject; link = $LinkPath }
`,
);

/** Remove the link and the shadow copy (both may already be gone: deleting twice is fine). */
export const SHADOW_DELETE = psScript(
  'shadow.delete',
  ['Id', 'LinkPath'],
  `
if ($LinkPath -and (Test-Path -LiteralPath $LinkPath)) { cmd.exe /c rmdir $LinkPath }
$copy = Get-CimInstance -ClassName Win32_ShadowCopy -Filter ("ID='" + $Id + "'")
if ($null -ne $copy) { $copy | Remove-CimInstance }
$true
`,
);
