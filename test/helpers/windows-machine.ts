// The Win32_Service rows of a Qlik Sense node for the fake PowerShell's machine file: the seven services running,
// each Qlik service depending on the one below it (QSD ← QRS ← the rest), the database bundled with the PostgreSQL
// major `major` (its folders in its command line, as the installer registers it).
export function qlikServiceRows(account: string, major: string | number): Record<string, object> {
  const running = (pid: number, deps: string[] = []) => ({ State: 'Running', ProcessId: pid, StartName: account, PathName: '"C:\\Program Files\\Qlik\\Sense\\x.exe"', DependsOn: deps });
  return {
    QlikSenseRepositoryDatabase: { ...running(100), StartName: 'LocalSystem', PathName: `"C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\${major}\\bin\\pg_ctl.exe" runservice -N "QlikSenseRepositoryDatabase" -D "C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\${major}"` },
    QlikSenseServiceDispatcher: running(101),
    QlikSenseRepositoryService: running(102, ['QlikSenseServiceDispatcher']),
    QlikSenseProxyService: running(103, ['QlikSenseRepositoryService']),
    QlikSenseEngineService: running(104, ['QlikSenseRepositoryService']),
    QlikSenseSchedulerService: running(105, ['QlikSenseRepositoryService']),
    QlikSensePrintingService: running(106, ['QlikSenseRepositoryService']),
  };
}
