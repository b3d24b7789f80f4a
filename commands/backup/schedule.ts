import fs from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';

export default class BackupSchedule extends QsadminCommand {
  static override description = `Print (or write) the schedule of a nightly backup

windows: a Task Scheduler task (XML) that runs scripts\\qsadmin-nightly-backup.ps1 as the Qlik service
account, elevated; register it with
  Register-ScheduledTask -TaskName qsadmin-nightly-backup -Xml (Get-Content task.xml | Out-String) -User <account> -Password (Read-Host)
systemd: a service and timer for an emulated site (scripts/qsadmin-nightly-backup.sh).
Each night the wrapper appends the --json result of \`backup create\` and \`backup prune\` to a log that
monitoring can read, and exits non-zero on any failure.`;
  static override examples = ['<%= config.bin %> backup schedule --at 02:00 --to D:\\QlikBackups --out C:\\qsadmin', '<%= config.bin %> backup schedule --platform systemd --at 02:30 --to /backups --out /etc/systemd/system'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    at: Flags.string({ description: 'time of day, 24-hour HH:MM', default: '02:00' }),
    to: Flags.string({ description: 'backup target folder', required: true, env: 'QSADMIN_BACKUP_DIR' }),
    platform: Flags.string({ description: 'what to render', options: ['windows', 'systemd'], default: process.platform === 'win32' ? 'windows' : 'systemd' }),
    'log-file': Flags.string({ description: 'where each night appends its JSON results [default: <to>/qsadmin-backup.jsonl]' }),
    out: Flags.string({ description: 'write the files into this folder instead of printing them' }),
  };

  async run(): Promise<{ files: Record<string, string> }> {
    const { flags } = await this.parseCommon(BackupSchedule);
    const site = await this.site();
    const { renderSystemd, renderWindowsTask, wrapperScript } = await import('../../src/backup/schedule.js');
    const platform = flags.platform as 'windows' | 'systemd';
    const win = platform === 'windows';
    const join = win ? path.win32.join : path.posix.join;
    const values = {
      siteName: site.name,
      sitePath: this.sitePath(),
      at: flags.at,
      target: flags.to,
      logFile: flags['log-file'] ?? join(flags.to, 'qsadmin-backup.jsonl'),
      serviceAccount: site.serviceAccount,
      wrapperPath: wrapperScript(platform),
      workingDirectory: win ? 'C:\\ProgramData\\qsadmin' : '/',
    };
    const files: Record<string, string> = win ? { 'qsadmin-nightly-backup.task.xml': renderWindowsTask(values) } : (({ service, timer }) => ({ 'qsadmin-backup.service': service, 'qsadmin-backup.timer': timer }))(renderSystemd(values));
    if (flags.out) {
      // Created one level at a time, each probe with a time limit (Node 20's recursive mkdir spins under /proc).
      const { prepareTarget } = await import('../../src/backup/target-probe.js');
      await prepareTarget(path.resolve(flags.out));
      for (const [name, text] of Object.entries(files)) {
        // Task Scheduler reads the XML as UTF-16 (its declaration says so).
        fs.writeFileSync(path.join(flags.out, name), win ? Buffer.from('\ufeff' + text, 'utf16le') : text);
        this.say(`wrote ${path.join(flags.out, name)}`);
      }
      if (!win) this.say('then: systemctl daemon-reload && systemctl enable --now qsadmin-backup.timer');
    } else {
      for (const [name, text] of Object.entries(files)) this.say(`# ${name}\n${text}`);
    }
    return { files };
  }
}
