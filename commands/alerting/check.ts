import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { EXIT, VerificationError } from '../../src/runbook/errors.js';
import type { AlertingCheckResult } from '../../src/alerting/check.js';

export default class AlertingCheck extends QsadminCommand {
  static override description = `Check Qlik Alerting beside the site, changing nothing

Runs on the Alerting node the site config names ("alerting": {"node": ...}): MongoDB answers (through the node's
own mongoexport; MongoDB listens on localhost by default), the Qlik Alerting Gateway service runs and answers on the
ports config\\default.json names, at least one Alerting administrator exists; users without an email address and users
holding both a Professional and an Analyzer licence are reported as warnings. Not checked (said in the output): the
Sense licence's Alerting attributes and the last user sync, for which there is no documented source.
Exit 4 when a check fails, 0 with warnings only.`;
  static override examples = ['<%= config.bin %> alerting check', '<%= config.bin %> alerting check --json'];
  static override help = EXIT_CODES_HELP;

  async run(): Promise<AlertingCheckResult> {
    await this.parseCommon(AlertingCheck);
    const site = await this.site();
    const { checkAlerting } = await import('../../src/alerting/check.js');
    const { alertingOf } = await import('../../src/alerting/config.js');
    const { openHost } = await import('../../src/host/index.js');
    const { mkdirPrivateSync } = await import('../../src/host/private-files.js');
    const host = await openHost(site, alertingOf(site).node);
    const privateDir = path.join(os.tmpdir(), `qsadmin-alerting-${process.pid}`);
    let result: AlertingCheckResult;
    try {
      mkdirPrivateSync(privateDir);
      result = await checkAlerting(site, host, privateDir);
    } finally {
      fs.rmSync(privateDir, { recursive: true, force: true });
      await host.close();
    }
    const mark = { ok: 'ok  ', fail: 'FAIL', warn: 'warn', skipped: 'skip' } as const;
    for (const f of result.findings) this.say(`${mark[f.status]} ${f.check}: ${f.message}${f.users ? `\n       ${f.users.join(', ')}` : ''}`);
    if (!result.ok) {
      if (this.jsonEnabled()) process.exitCode = EXIT.verificationFailed;
      else throw new VerificationError(`Qlik Alerting on ${result.node}: ${result.findings.filter((f) => f.status === 'fail').map((f) => f.check).join(', ')} failed`, 'see the lines above');
    }
    return result;
  }
}
