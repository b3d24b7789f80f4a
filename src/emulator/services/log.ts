// Qlik-style local logs of an emulated service: %ProgramData%\Qlik\Sense\Log\<Service>\{Audit,System,Trace} (guide §7).
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import type { ServiceName } from '../../site/services.js';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

/** Log folder of each Qlik service under %ProgramData%\Qlik\Sense\Log (guide §7.4 / digest §17). */
export const SERVICE_LOG_FOLDERS: Record<string, string> = {
  QlikSenseServiceDispatcher: 'ServiceDispatcher',
  QlikSenseRepositoryService: 'Repository',
  QlikSenseProxyService: 'Proxy',
  QlikSenseEngineService: 'Engine',
  QlikSenseSchedulerService: 'Scheduler',
  QlikSensePrintingService: 'Printing',
};

const HEADER = ['Sequence#', 'Timestamp', 'Level', 'Hostname', 'Logger', 'Thread', 'Id', 'ServiceUser', 'Message'];

export interface ServiceLog {
  /** The System log file (<Machine>_Service_<Service>.txt). */
  file: string;
  write(level: LogLevel, message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  fatal(message: string): void;
}

// The machine name Qlik puts in log file names: the first label of the hostname, upper case.
export function machineName(hostname: string): string {
  return hostname.split('.')[0].toUpperCase();
}

// The local log folder of a service on an emulated node (…/ProgramData/Qlik/Sense/Log/<Folder>).
export function serviceLogDir(nodeRoot: string, name: ServiceName | string): string {
  const folder = SERVICE_LOG_FOLDERS[name] ?? name;
  return windowsToEmulated(nodeRoot, `C:\\ProgramData\\Qlik\\Sense\\Log\\${folder}`);
}

// Where a service process's stdout and stderr go (an emulator artefact beside the Qlik logs).
export function consoleLogFile(nodeRoot: string, hostname: string, name: ServiceName | string): string {
  const folder = SERVICE_LOG_FOLDERS[name] ?? name;
  return path.join(serviceLogDir(nodeRoot, name), 'Trace', `${machineName(hostname)}_Console_${folder}.txt`);
}

// Escape a field the way Qlik's log appender does (tab, newline, form feed, carriage return; guide §7).
function escapeField(value: string): string {
  return value.replace(/\t/g, '\u21d4').replace(/\n/g, '\u2193').replace(/\f/g, '\u2192').replace(/\r/g, '\u21b5');
}

// Open (append to) the System log of a service on an emulated node.
export function openServiceLog(nodeRoot: string, hostname: string, name: ServiceName | string, serviceUser = 'emulator'): ServiceLog {
  const folder = SERVICE_LOG_FOLDERS[name] ?? name;
  const file = path.join(serviceLogDir(nodeRoot, name), 'System', `${machineName(hostname)}_Service_${folder}.txt`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let sequence = 0;
  if (fs.existsSync(file)) sequence = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length - 1;
  else fs.writeFileSync(file, HEADER.join('\t') + '\n');
  const write = (level: LogLevel, message: string): void => {
    sequence += 1;
    const row = [String(sequence), new Date().toISOString(), level, hostname, `${folder}.Emulator`, String(process.pid), '', serviceUser, escapeField(message)];
    fs.appendFileSync(file, row.join('\t') + '\n');
  };
  return {
    file,
    write,
    info: (m) => write('INFO', m),
    warn: (m) => write('WARN', m),
    error: (m) => write('ERROR', m),
    fatal: (m) => write('FATAL', m),
  };
}
