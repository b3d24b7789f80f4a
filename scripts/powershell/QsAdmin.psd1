@{
  RootModule        = 'QsAdmin.psm1'
  ModuleVersion     = '0.1.0'
  GUID              = '5b0f1a4e-7c1d-4f55-9a43-2f7e4b8d6c10'
  Author            = 'qsadmin'
  Description       = 'Invoke-QsAdmin: run qsadmin on Qlik Sense nodes through PowerShell remoting, results as objects'
  PowerShellVersion = '5.1'
  FunctionsToExport = @('Invoke-QsAdmin')
  CmdletsToExport   = @()
  VariablesToExport = @()
  AliasesToExport   = @()
}
