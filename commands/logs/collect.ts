import path from 'node:path';
import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { InputError } from '../../src/runbook/errors.js';

export default class LogsCollect extends QsadminCommand {
  static override description = `Collect the site's logs into one zip, with a summary (guide §7, §8)

Every node's %ProgramData%\\Qlik\\Sense\\Log and the share's ArchivedLogs (its path from QSR) for the window
(--since, default 24h: files changed since then), into one zip. The summary (printed, and summary.txt and
summary.json in the zip) counts the Error and Fatal rows per node and service and lists the lines the guide names
as known problems, each with the guide's fix and section: "no pg_hba.conf entry", "password authentication failed
for user "postgres"", "SeSecurityPrivilege", "Error 1053", "too many root certificates" and "Patch was uninstalled
with exit code: -1". It reads the site and writes only the zip (0600, complete or not there).`;
  static override examples = [
    '<%= config.bin %> logs collect',
    '<%= config.bin %> logs collect --since 7d --to D:\\support\\qlik-logs.zip',
    '<%= config.bin %> logs collect --since 2026-01-31T08:00:00Z --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    since: Flags.string({ description: 'files changed since: a duration (30m, 24h, 7d) or a date/time', default: '24h' }),
    to: Flags.string({ description: 'the zip to write [default: ./qsadmin-logs-<site>-<time>.zip]' }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parseCommon(LogsCollect);
    const site = await this.site();
    const { parseSince, summarize, writeZip, formatSummary } = await import('../../src/logs/collect.js');
    const since = parseSince(flags.since);
    const to = path.resolve(flags.to ?? `qsadmin-logs-${site.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z.zip`);
    if (!to.toLowerCase().endsWith('.zip')) throw new InputError(`--to ${to} is not a .zip file name`, 'name the zip, e.g. --to qlik-logs.zip');
    const fs = await import('node:fs');
    if (fs.existsSync(to)) throw new InputError(`${to} already exists`, 'choose another --to or remove the old zip');
    if (!fs.existsSync(path.dirname(to))) throw new InputError(`the folder of --to (${path.dirname(to)}) does not exist`);
    const { gatherLogs } = await import('../../src/logs/gather.js');
    const g = await gatherLogs(site, since, this.interactive());
    try {
      const summary = await summarize(g.files, since);
      const zip = await writeZip(to, g.files, summary);
      this.say([formatSummary(summary), '', ...g.notes, `Wrote ${zip.file} (${zip.bytes} bytes)`].join('\n'));
      return { status: 'ok', zip: zip.file, zipBytes: zip.bytes, archivedLogs: g.archivedLogs, notes: g.notes, ...summary };
    } finally {
      await g.close();
    }
  }
}
