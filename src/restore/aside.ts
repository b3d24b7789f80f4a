// A safety copy of a live file a restore overwrites outside the share and the databases (config files, supporting
// content): its bytes go into the run's safety folder first (0600: a config file may hold secrets), named after its
// Windows path. The first copy wins, so a resumed run never replaces the original with the restored file.
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../host/types.js';
import { writePrivateSync } from '../host/private-files.js';

/** Copy a live file into `dir` before it is overwritten; returns where, or null when there was none. */
export async function keepAside(host: Host, windowsPath: string, dir: string): Promise<string | null> {
  if (!(await host.files.exists(windowsPath))) return null;
  const dest = path.join(dir, windowsPath.replace(/^([A-Za-z]):/, '$1').replace(/[\\/]+/g, '__'));
  if (fs.existsSync(dest)) return dest;
  writePrivateSync(dest, await host.files.read(windowsPath));
  return dest;
}
