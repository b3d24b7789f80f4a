import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ShareMove extends RunbookCommand {
  static override description = `Move the site's file share to a new share (guide §2.3 "Changing the file share path")

Checks the new share first (reachable, writable, Full control for the services' account, empty unless
--merge); then records the current paths, stops all Qlik services except the Repository Service (rim nodes
first), copies Apps, ArchivedLogs and StaticContent with a sha256 per file, points the service cluster at
the new paths, starts the stopped services in order and verifies that QRS reports the new paths and that
every file is at its new place with its sha256. The old share is left untouched unless --remove-old (then it
is removed last, after the verification; needs --yes).

NOT THE GUIDE'S ROUTE: the guide changes the paths in QlikSenseUtil's "Service cluster" screen; qsadmin uses
QRS's service cluster endpoint (PUT /qrs/servicecluster/{id}). Restart the QMC afterwards (the guide's step 12).`;
  static override examples = [
    '<%= config.bin %> share move --to \\\\fileserver\\QlikShare2',
    '<%= config.bin %> share move --to \\\\fileserver\\QlikShare2 --dry-run',
    '<%= config.bin %> share move --to \\\\fileserver\\QlikShare2 --merge --remove-old --yes',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'the new share, \\\\server\\share', required: true }),
    merge: Flags.boolean({ description: 'copy into a share that is not empty (files of the same name must be identical)' }),
    'remove-old': Flags.boolean({ description: 'remove the old Apps, ArchivedLogs and StaticContent after the verification (destructive)' }),
    parallel: Flags.integer({ description: 'files copied at once', default: 4 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ShareMove);
    const { buildShareMove } = await import('../../src/runbooks/share-move.js');
    const rb = await buildShareMove({ sitePath: this.sitePath(), to: flags.to, merge: flags.merge, removeOld: flags['remove-old'], parallel: flags.parallel }, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
