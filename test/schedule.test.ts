// The nightly-backup schedule: Task Scheduler XML, the PowerShell wrapper (parsed by a real PowerShell grammar),
// the systemd units, and the shell wrapper's log and exit code.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { renderSystemd, renderWindowsTask, parseAt, wrapperScript } from '../src/backup/schedule.js';
import { powershellErrors } from './helpers/powershell.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { ROOT } from './helpers/cli.js';

afterAll(cleanupTempDirs);

const values = {
  siteName: 'Sales & Ops',
  sitePath: '/etc/qsadmin/site.json',
  at: '2:05',
  target: 'D:\\Qlik Backups',
  logFile: 'D:\\Qlik Backups\\qsadmin-backup.jsonl',
  serviceAccount: 'CORP\\svc-qlik',
  wrapperPath: 'C:\\Program Files\\qsadmin\\scripts\\qsadmin-nightly-backup.ps1',
  workingDirectory: 'C:\\ProgramData\\qsadmin',
};

describe('backup schedule', () => {
  it('renders a Task Scheduler task that runs the wrapper as the service account, escaped for XML', () => {
    const xml = renderWindowsTask(values, new Date('2026-11-26T12:00:00Z'));
    expect(xml).not.toMatch(/\{\{\w+\}\}/);
    expect(xml).toContain('<UserId>CORP\\svc-qlik</UserId>');
    expect(xml).toContain('<RunLevel>HighestAvailable</RunLevel>');
    expect(xml).toContain('<StartBoundary>2026-11-26T02:05:00</StartBoundary>');
    expect(xml).toContain('Sales &amp; Ops');
    expect(xml).toContain('-File "C:\\Program Files\\qsadmin\\scripts\\qsadmin-nightly-backup.ps1" -Target "D:\\Qlik Backups"');
    // every element closes in order
    const stack: string[] = [];
    for (const m of xml.replace(/<\?xml[^>]*\?>|<!--[\s\S]*?-->/g, '').matchAll(/<(\/?)([A-Za-z]+)[^>]*?(\/?)>/g)) {
      if (m[3]) continue;
      if (m[1]) expect(stack.pop()).toBe(m[2]);
      else stack.push(m[2]);
    }
    expect(stack).toEqual([]);
  });

  it('refuses a bad time and a quote in a path', () => {
    expect(() => parseAt('25:00')).toThrow(/HH:MM/);
    expect(() => renderWindowsTask({ ...values, target: 'D:\\a"b' })).toThrow(/double quote/);
  });

  it('ships a PowerShell wrapper that a PowerShell grammar parses without errors', async () => {
    const script = fs.readFileSync(wrapperScript('windows'), 'utf8');
    expect(await powershellErrors(script)).toEqual([]);
    // the check can fail: a broken copy is reported
    expect((await powershellErrors(script.replace('exit $pruneCode', 'exit $pruneCode }'))).length).toBeGreaterThan(0);
    expect(script).not.toMatch(/-Password\b|\$Password/); // secrets come from the environment, never a parameter
  });

  it('renders systemd units for an emulated site', () => {
    const u = renderSystemd({ ...values, siteName: 'demo', target: '/backups', logFile: '/backups/log.jsonl', wrapperPath: '/opt/qsadmin/scripts/qsadmin-nightly-backup.sh' });
    expect(u.timer).toContain('OnCalendar=*-*-* 02:05:00');
    expect(u.service).toContain('ExecStart=/opt/qsadmin/scripts/qsadmin-nightly-backup.sh /backups /backups/log.jsonl');
    expect(() => renderSystemd({ ...values, target: '/my backups' })).toThrow(/spaces/);
  });

  it('the shell wrapper appends each JSON result to the log and exits non-zero on failure', async () => {
    const dir = tempDir();
    const fake = path.join(dir, 'fake-qsadmin');
    fs.writeFileSync(fake, '#!/bin/sh\nif [ "$2" = create ]; then printf \'{"status":"failed",\\n"exitCode":1}\\n\'; exit 1; fi\necho \'{"removed":[]}\'\n', { mode: 0o755 });
    const log = path.join(dir, 'log.jsonl');
    const r = await execa(path.join(ROOT, 'scripts', 'qsadmin-nightly-backup.sh'), [dir, log], { reject: false, env: { QSADMIN_BIN: fake } });
    expect(r.exitCode).toBe(1);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({ status: 'failed', exitCode: 1 });
  });
});
