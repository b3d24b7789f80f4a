// Rendering the nightly-backup schedule: a Windows Task Scheduler task, or a systemd service and timer.
import fs from 'node:fs';
import path from 'node:path';
import { installRoot, packagedRuntime } from '../runbook/packaged.js';
import { InputError } from '../runbook/errors.js';


export interface ScheduleValues {
  siteName: string;
  sitePath: string;
  at: string; // HH:MM
  target: string;
  logFile: string;
  serviceAccount: string;
  wrapperPath: string;
  workingDirectory: string;
  environmentFile?: string;
}

/** Check an "HH:MM" time of day. */
export function parseAt(at: string): string {
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(at);
  if (!m) throw new InputError(`--at ${at} is not a time of day in 24-hour HH:MM`, 'e.g. --at 02:00');
  return `${m[1].padStart(2, '0')}:${m[2]}`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Fill {{Name}} placeholders; every placeholder must have a value. */
function render(template: string, values: Record<string, string>, escape: (s: string) => string): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new Error(`template placeholder {{${k}}} has no value`);
    return escape(values[k]);
  });
}

// The single-file Windows build carries its templates inside the executable; an npm install reads them from disk.
function template(name: string): string {
  return packagedRuntime()?.asset(`templates/${name}`) ?? fs.readFileSync(path.join(installRoot(), 'templates', name), 'utf8');
}

/** A value that goes between double quotes on a command line must not hold a double quote. */
function noQuotes(label: string, v: string): string {
  if (v.includes('"')) throw new InputError(`${label} must not contain a double quote: ${v}`);
  return v;
}

/** The Task Scheduler XML (runs as the service account, elevated, daily at the given time). */
export function renderWindowsTask(v: ScheduleValues, today = new Date()): string {
  const day = today.toISOString().slice(0, 10);
  return render(
    template('qsadmin-nightly-backup.task.xml'),
    {
      SiteName: v.siteName,
      TaskName: `nightly-backup-${v.siteName.replace(/[^A-Za-z0-9_-]/g, '_')}`,
      StartBoundary: `${day}T${parseAt(v.at)}:00`,
      ServiceAccount: v.serviceAccount,
      WrapperPath: noQuotes('the wrapper path', v.wrapperPath),
      Target: noQuotes('--to', v.target),
      LogFile: noQuotes('--log-file', v.logFile),
      WorkingDirectory: v.workingDirectory,
    },
    xmlEscape,
  );
}

/** The systemd service and timer for an emulated site. */
export function renderSystemd(v: ScheduleValues): { service: string; timer: string } {
  const unitValue = (s: string) => {
    if (/[\s"'\\%$]/.test(s)) throw new InputError(`path ${s} has spaces or quotes: systemd units here take plain paths`);
    return s;
  };
  const values = {
    SiteName: v.siteName,
    SitePath: unitValue(v.sitePath),
    At: parseAt(v.at),
    Target: unitValue(v.target),
    LogFile: unitValue(v.logFile),
    WrapperPath: unitValue(v.wrapperPath),
    EnvironmentFile: unitValue(v.environmentFile ?? '/etc/qsadmin/backup.env'),
  };
  return { service: render(template('qsadmin-backup.service'), values, (s) => s), timer: render(template('qsadmin-backup.timer'), values, (s) => s) };
}

/** Where the wrapper scripts are in this installation. */
export function wrapperScript(platform: 'windows' | 'systemd'): string {
  return path.join(installRoot(), 'scripts', platform === 'windows' ? 'qsadmin-nightly-backup.ps1' : 'qsadmin-nightly-backup.sh');
}
