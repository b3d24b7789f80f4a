import path from 'node:path';
import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class BackupCreate extends RunbookCommand {
  static override description = `Back up the whole site: all databases, the share, supporting content, logs, configs and certificates

Follows the guide's §5 with the services down only while the state is captured: Qlik services stop (rims
first, then central; the repository database keeps running), each database exports a snapshot and the share
is snapshotted (hard links here, a Volume Shadow Copy on Windows, or copied while down where neither is
possible), services start again (central first, then rims) and the dumps and copies are written from the
snapshots. Unchanged share files are hard-linked from the newest verified set in the same target, so each
set stays complete on its own. manifest.json is written last: a set without it is incomplete.

Passwords come from environment variables, never from arguments: the database superuser's from the
variable the site config names (default QSADMIN_DB_PASSWORD), the PFX password from QSADMIN_CERT_PASSWORD
(or the variable given with --cert-password-env).

With --to-all the set goes to every repository the site config lists ("repositories"): it is staged once,
then uploaded to each at once. When one upload fails the others still finish: the run exits 1, --json says
"status": "failed" with the failed upload step's error, outputs["backup.uploads"] lists the repositories
that have the set, and \`qsadmin runs resume <run-id>\` uploads only to the ones missing it.

A restore of the site that stopped half way (killed or failed after it began to change the site) must be
resumed first: until then a backup is refused (exit 3), as a set of a half-restored site would keep that state
(--ignore-unfinished-restore <run-id> once the site was made whole by other means).`;
  static override examples = [
    '<%= config.bin %> backup create --to D:\\QlikBackups',
    '<%= config.bin %> backup create --to /backups --dry-run',
    'QSADMIN_REPO_PASSPHRASE=... AZURE_STORAGE_KEY=... <%= config.bin %> backup create --to-all --json',
    '<%= config.bin %> backup create --to offsite-s3',
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> backup create --to /backups --extra-path \\\\fs01\\QVD --json >> nightly.jsonl',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, a repository (azure://<account>/<container>/<prefix>, s3://<bucket>/<prefix>), or the name of a repository in the site config [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR', exclusive: ['to-all'] }),
    'to-all': Flags.boolean({ description: 'back up to every repository of the site config: the set is written once, then uploaded to each (one failing does not stop the others; a resume sends it only where it is missing)', exclusive: ['to'] }),
    encrypt: Flags.boolean({ description: 'encrypt the set (AES-256-GCM, key wrapped by the passphrase in --passphrase-env) [default: on for azure:// and s3://, off for a plain folder; a configured repository says it itself]', allowNo: true }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase', default: 'QSADMIN_REPO_PASSPHRASE' }),
    'single-file': Flags.boolean({ description: 'pack the set into one .tar (no incremental linking for such sets)' }),
    compress: Flags.string({ description: 'compression of the database dumps (share files are stored as they are) [default: zstd when installed, else gzip]', options: ['zstd', 'gzip', 'none'] }),
    parallel: Flags.integer({ description: 'files copied and databases dumped at once', default: 4, min: 1, max: 32 }),
    'table-archive-min-size': Flags.integer({
      description: 'tables at least this many bytes big get a data archive of their own, hard-linked from the last verified set while PostgreSQL counts no change to them',
      default: 8 * 1024 * 1024,
      min: 1,
    }),
    'skip-share': Flags.boolean({ description: 'do not back up the share (databases, certificates and configs only)' }),
    'no-logs': Flags.boolean({ description: 'leave the local logs of the nodes out' }),
    'extra-path': Flags.string({ description: 'supporting content to include, e.g. a QVD folder (repeatable)', multiple: true }),
    'cert-password-env': Flags.string({ description: 'environment variable that holds the PFX password', default: 'QSADMIN_CERT_PASSWORD' }),
    'stop-timeout': Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
    'end-stuck-services': Flags.boolean({ description: 'end the process of a Qlik service still stopping at the timeout, logged (administrators do this by hand; not in the guide; never the database service)' }),
    'ignore-unfinished-restore': Flags.string({
      description: 'back up although this restore run of the site stopped half way (killed or failed after it began to change the site): only once the site was made whole by other means. Without it such a backup is refused (exit 3)',
      helpValue: '<run-id>',
    }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(BackupCreate);
    const { buildBackupCreate, newBackupInputs } = await import('../../src/runbooks/backup-create.js');
    let inputs;
    if (flags.resume) {
      const { readPlan } = await import('../../src/cli/runs.js');
      inputs = readPlan(this.stateDir, flags.resume).inputs as never;
    } else {
      const site = await this.site();
      const { resolveBackupTargets } = await import('../../src/backup/repo/target.js');
      const target = resolveBackupTargets(site, {
        to: flags.to ?? path.join(this.stateDir, 'backups', site.name),
        toAll: flags['to-all'],
        encrypt: flags.encrypt,
        passphraseEnv: flags['passphrase-env'],
        stateDir: this.stateDir,
      });
      if (target.repositories && flags['single-file']) {
        const { InputError } = await import('../../src/runbook/errors.js');
        throw new InputError('--single-file does not apply to a repository (its sets are content-addressed objects)', 'drop --single-file, or back up to a plain folder');
      }
      inputs = newBackupInputs({
        sitePath: this.sitePath(),
        to: target.to,
        repositories: target.repositories,
        singleFile: flags['single-file'],
        compress: flags.compress as never,
        parallel: flags.parallel,
        tableArchiveMinBytes: flags['table-archive-min-size'],
        skipShare: flags['skip-share'],
        noLogs: flags['no-logs'],
        extraPaths: flags['extra-path'],
        certPasswordEnv: flags['cert-password-env'],
        stopTimeoutMs: flags['stop-timeout'] * 1000,
        endStuck: flags['end-stuck-services'],
        toolVersion: this.config.version,
      });
    }
    const rb = await buildBackupCreate(inputs, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    if (!flags.resume) {
      const { refuseAfterUnfinishedRestore } = await import('../../src/cli/runs.js');
      refuseAfterUnfinishedRestore(this.stateDir, rb.lockKey ?? rb.site, flags['ignore-unfinished-restore']);
    }
    const result = await this.execute(rb, flags);
    // The lines a scheduled task's "> log" keeps: on stdout (progress and the step summary are on stderr).
    if (result.status === 'succeeded') for (const line of summaryLines(result.outputs)) this.say(line);
    return result;
  }
}

/** Where the set went, its size, the downtime and what was linked from the base set. */
function summaryLines(outputs: Record<string, unknown>): string[] {
  const b = outputs.backup as { id: string; dir: string; files: number; bytes: number; reusedFiles: number; reusedBytes?: number; downtimeMs: number; base: string | null } | undefined;
  if (!b) return [];
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const ups = Object.values((outputs['backup.uploads'] ?? {}) as Record<string, { name?: string; url: string; objectsSent: number; objectsPresent: number; bytesSent: number }>);
  const where = ups.length ? ups.map((r) => `${r.url}#${b.id}`).join(', ') : ((outputs['backup.file'] as string | undefined) ?? b.dir);
  const pre = outputs.preflight as { estimateBytes?: number } | undefined;
  return [
    `backup ${b.id} written to ${where}`,
    `  ${b.files} files, ${mb(b.bytes)}; ${b.base ? `${b.reusedFiles} files (${mb(b.reusedBytes ?? 0)}) linked from base set ${b.base}, ${mb(b.bytes - (b.reusedBytes ?? 0))} written` : 'full set: nothing linked from an earlier set'}`,
    ...ups.map((r) => `  uploaded${r.name ? ` to ${r.name}` : ''}: ${r.objectsSent} objects, ${mb(r.bytesSent)} sent; ${r.objectsPresent} objects already in the repository`),
    `  services were down ${(b.downtimeMs / 1000).toFixed(1)} s${pre?.estimateBytes ? `; the free-space estimate was ${mb(pre.estimateBytes)}` : ''}`,
  ];
}
