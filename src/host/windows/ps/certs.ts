// Certificate stores through PowerShell's Cert: drive (the Certificate provider). Subject, issuer, dates and the
// Qlik extension are read from the DER in Node (src/certs/inspect), so these scripts only move bytes.
// PFX files are made and read by Export-PfxCertificate / Import-PfxCertificate (PKI module): they keep the extended
// properties the guide asks for, and -Exportable marks imported keys exportable.
import { psScript } from './script.js';

const STORE_PATH = "$store = 'Cert:\\' + $Location + '\\' + $Name";
const ROW = '@{ thumbprint = [string]$c.Thumbprint; hasPrivateKey = [bool]$c.HasPrivateKey; der = [System.Convert]::ToBase64String($c.RawData) }';

export const CERT_LIST = psScript(
  'cert.list',
  ['Location', 'Name'],
  `
${STORE_PATH}
$out = @()
foreach ($c in Get-ChildItem -LiteralPath $store) { $out += ${ROW} }
, $out
`,
);

// Windows Server 2016 cannot import an AES-encrypted PFX: where Export-PfxCertificate offers the choice
// (-CryptoAlgorithmOption, Windows Server 2019 and later), ask for TripleDES_SHA1, the form every version imports.
export const CERT_EXPORT = psScript(
  'cert.export',
  ['Location', 'Name', 'Thumbprint', 'Password'],
  `
${STORE_PATH}
$c = Get-Item -LiteralPath ($store + '\\' + $Thumbprint)
$pw = ConvertTo-SecureString -String $Password -AsPlainText -Force
$file = [System.IO.Path]::GetTempFileName()
try {
  if ((Get-Command -Name Export-PfxCertificate).Parameters.ContainsKey('CryptoAlgorithmOption')) {
    $null = Export-PfxCertificate -Cert $c -FilePath $file -Password $pw -ChainOption EndEntityCertOnly -CryptoAlgorithmOption TripleDES_SHA1 -Force
  } else {
    $null = Export-PfxCertificate -Cert $c -FilePath $file -Password $pw -ChainOption EndEntityCertOnly -Force
  }
  [System.Convert]::ToBase64String([System.IO.File]::ReadAllBytes($file))
} finally {
  Remove-Item -LiteralPath $file -Force
}
`,
);

// The private key's file, for the service account's read access (the guide: the account needs access to the keys):
// CNG keys live under Microsoft\\Crypto\\Keys, CryptoAPI machine keys under Microsoft\\Crypto\\RSA\\MachineKeys.
export const CERT_IMPORT = psScript(
  'cert.import',
  ['Location', 'Name', 'Pfx', 'Password', 'GrantTo'],
  `
${STORE_PATH}
$pw = ConvertTo-SecureString -String $Password -AsPlainText -Force
$file = [System.IO.Path]::GetTempFileName()
try {
  [System.IO.File]::WriteAllBytes($file, [System.Convert]::FromBase64String($Pfx))
  $c = Import-PfxCertificate -FilePath $file -CertStoreLocation $store -Password $pw -Exportable | Select-Object -First 1
} finally {
  Remove-Item -LiteralPath $file -Force
}
if ($GrantTo -and $c.HasPrivateKey -and $Location -eq 'LocalMachine') {
  $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($c)
  if ($rsa -is [System.Security.Cryptography.RSACng]) { $key = Join-Path -Path $env:ProgramData -ChildPath ('Microsoft\\Crypto\\Keys\\' + $rsa.Key.UniqueName) }
  else { $key = Join-Path -Path $env:ProgramData -ChildPath ('Microsoft\\Crypto\\RSA\\MachineKeys\\' + $rsa.CspKeyContainerInfo.UniqueKeyContainerName) }
  $acl = Get-Acl -LiteralPath $key
  $acl.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList $GrantTo, 'Read', 'Allow'))
  Set-Acl -LiteralPath $key -AclObject $acl
}
${ROW}
`,
);

export const CERT_REMOVE = psScript(
  'cert.remove',
  ['Location', 'Name', 'Thumbprint'],
  `
${STORE_PATH}
Remove-Item -LiteralPath ($store + '\\' + $Thumbprint) -DeleteKey
$true
`,
);
