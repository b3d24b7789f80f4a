import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { EXIT, InputError } from '../../src/runbook/errors.js';
import type { SiteCheckResult } from '../../src/site/check.js';

export default class SiteCheck extends QsadminCommand {
  static override description = `Check a site config against the site it names, changing nothing

The file first: types, unknown keys, names (exit 2 naming the key). Then every node through its driver (services,
Host.cfg's hostname), the repository database (the superuser password from the variable the config names), and
what QSR records: the nodes and the share root; then each backup repository ("repositories": reachable, a
qsadmin repository or not created yet, its passphrase opens its key). A finding names the config key to fix
and exits 2.
Read-only: the safe first command on a real server.`;
  static override examples = ['<%= config.bin %> site check --site C:\\ProgramData\\qsadmin\\site.json', '<%= config.bin %> site check --json'];
  static override help = EXIT_CODES_HELP;

  async run(): Promise<SiteCheckResult> {
    await this.parseCommon(SiteCheck);
    const site = await this.site();
    const { checkSite } = await import('../../src/site/check.js');
    const { openHost } = await import('../../src/host/index.js');
    const result = await checkSite(site, openHost, { interactive: this.interactive() });
    for (const f of result.findings) this.say(`${f.ok ? 'ok  ' : 'FAIL'} ${f.key}: ${f.message}`);
    if (!result.ok) {
      const first = result.findings.find((f) => !f.ok)!;
      if (this.jsonEnabled()) process.exitCode = EXIT.badInput;
      else throw new InputError(`site config ${this.sitePath()}: ${first.key}: ${first.message}`, `${result.findings.filter((f) => !f.ok).length} finding(s) above; fix the config (or the site) and run site check again`);
    }
    return result;
  }
}
