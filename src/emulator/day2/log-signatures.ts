// Logs with the guide's known signatures (src/logs/signatures.ts), written where the services write theirs: the System
// log of the service that would log it, as a Qlik log row (tab-separated, header first). The patch line goes to a
// setup log in the Log folder: EMULATOR ASSUMPTION, the guide does not say where the patch log lives.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import type { NodeConfig } from '../../site/model.js';
import { machineName, openServiceLog, type LogLevel } from '../services/log.js';

/** One sample line per signature id, with the service that logs it and its level. */
export const SIGNATURE_LINES: Record<string, { service: string; level: LogLevel; message: string }> = {
  'pg-hba-no-entry': { service: 'QlikSenseRepositoryService', level: 'ERROR', message: 'psql: FATAL: no pg_hba.conf entry for host "10.20.30.40", user "qliksenserepository", database "QSR", SSL off' },
  'postgres-password-failed': { service: 'QlikSenseRepositoryService', level: 'FATAL', message: 'Fatal exception password authentication failed for user "postgres"' },
  'se-security-privilege': { service: 'QlikSenseRepositoryService', level: 'FATAL', message: 'System.Security.AccessControl.PrivilegeNotHeldException: The process does not possess the \'SeSecurityPrivilege\' privilege which is required for this operation.' },
  'error-1053': { service: 'QlikSenseServiceDispatcher', level: 'ERROR', message: 'Error 1053: The service did not respond to the start control request in a timely fashion.' },
  'too-many-roots': { service: 'QlikSenseProxyService', level: 'WARN', message: 'There are too many root certificates for the service to trust. The Microsoft Windows operating system will truncate the list of certificates during the Transport Layer Security (TLS) handshake.' },
};

/** Write the signatures' lines into the node's logs; returns the files written. */
export function writeSignatureLogs(node: NodeConfig, ids: string[]): string[] {
  const files = new Set<string>();
  for (const id of ids) {
    if (id === 'patch-uninstalled') {
      const file = windowsToEmulated(node.root!, `C:\\ProgramData\\Qlik\\Sense\\Log\\${machineName(node.hostname)}_Qlik_Sense_patch.log`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.appendFileSync(file, `${new Date().toISOString()} Patch was uninstalled with exit code: -1\n`);
      files.add(file);
      continue;
    }
    const s = SIGNATURE_LINES[id];
    if (!s) throw new Error(`no emulated log line for signature "${id}" (known: ${[...Object.keys(SIGNATURE_LINES), 'patch-uninstalled'].join(', ')})`);
    const log = openServiceLog(node.root!, node.hostname, s.service);
    log.write(s.level, s.message);
    files.add(log.file);
  }
  return [...files];
}
