// Default Windows locations of a Qlik Sense node (guide §1.3 services table, §5.2 local paths).
import path from 'node:path';
import type { SitePaths } from './types.js';

const win = path.win32;

export function defaultSitePaths(systemDrive = 'C:'): SitePaths {
  const programFiles = win.join(systemDrive + '\\', 'Program Files');
  const qlikInstallDir = win.join(programFiles, 'Qlik', 'Sense');
  const programData = win.join(systemDrive + '\\', 'ProgramData');
  const qlikProgramData = win.join(programData, 'Qlik', 'Sense');
  const exportedCertificates = win.join(qlikProgramData, 'Repository', 'Exported Certificates');
  return {
    programFiles,
    qlikInstallDir,
    qlikProgramData,
    hostCfg: win.join(qlikProgramData, 'Host.cfg'),
    exportedCertificates,
    localCertificates: win.join(exportedCertificates, '.Local Certificates'),
    logDir: win.join(qlikProgramData, 'Log'),
    customData: win.join(programFiles, 'Common Files', 'Qlik', 'Custom Data'),
    repositoryExe: win.join(qlikInstallDir, 'Repository', 'Repository.exe'),
    configFiles: [
      win.join(qlikInstallDir, 'Repository', 'Repository.exe.config'),
      win.join(qlikInstallDir, 'Proxy', 'Proxy.exe.config'),
      win.join(qlikInstallDir, 'Scheduler', 'Scheduler.exe.config'),
      win.join(qlikInstallDir, 'ServiceDispatcher', 'services.conf'),
      win.join(qlikProgramData, 'Engine', 'Settings.ini'),
    ],
  };
}

/** Join for a path in the style of its root (UNC/drive paths with backslashes, local paths as they are). */
export function joinLike(root: string, ...parts: string[]): string {
  if (/^[A-Za-z]:\\|^\\\\/.test(root)) return path.win32.join(root, ...parts);
  return path.posix.join(root, ...parts);
}

/** Map a Windows path onto an emulated node directory: C:\X\Y → <root>/X/Y (drive letters other than C: → <root>/<letter>/...). */
export function windowsToEmulated(root: string, windowsPath: string): string {
  const m = /^([A-Za-z]):[\\/]?(.*)$/.exec(windowsPath);
  if (!m) {
    if (path.posix.isAbsolute(windowsPath)) return windowsPath; // already a local path (e.g. a share outside the node)
    throw new Error(`not an absolute Windows path: ${windowsPath}`);
  }
  const drive = m[1].toUpperCase();
  const rest = m[2].split(/[\\/]+/).filter(Boolean);
  return drive === 'C' ? path.join(root, ...rest) : path.join(root, `${drive}_drive`, ...rest);
}
