// Where node:fs finds a Windows path. On Windows: the path itself. On Linux, only for the Windows driver's tests
// (QSADMIN_EMULATOR_WINDOWS_ROOT names a folder that plays this machine's drives and the network): C:\a\b is
// <root>/C/a/b and \\server\share\x is <root>/UNC/server/share/x. No Windows machine ever sets the variable.
import path from 'node:path';

export const WINDOWS_ROOT_ENV = 'QSADMIN_EMULATOR_WINDOWS_ROOT';

export function onThisMachine(windowsPath: string, root = process.env[WINDOWS_ROOT_ENV]): string {
  if (!root || process.platform === 'win32') return windowsPath;
  const unc = /^\\\\([^\\]+)\\(.*)$/.exec(windowsPath);
  if (unc) return path.join(root, 'UNC', unc[1].toLowerCase(), ...unc[2].split('\\').filter(Boolean));
  const m = /^([A-Za-z]):[\\/]?(.*)$/.exec(windowsPath);
  if (!m) return windowsPath;
  return path.join(root, m[1].toUpperCase(), ...m[2].split(/[\\/]/).filter(Boolean));
}
