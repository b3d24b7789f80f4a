// The base command: shared flags (each with a QSADMIN_* variable), site loading, output and exit codes.
import fs from 'node:fs';
import path from 'node:path';
import { Command, Flags, type Interfaces } from '@oclif/core';
import { EXIT, InputError, QsadminError, errorMessage } from '../runbook/errors.js';
import { defaultStateDir } from '../runbook/state.js';
import type { RunOptions, RunResult, RendererChoice } from '../runbook/runner.js';
import type { Runbook, StepContext } from '../runbook/step.js';
import type { SiteConfig } from '../site/model.js';

export { EXIT_CODES_HELP } from './exit-codes.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<T['baseFlags'] & T['flags']>;

/** Every qsadmin command: --json, --state-dir, --site, --verbose; errors mapped to documented exit codes. */
export abstract class QsadminCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    'state-dir': Flags.string({
      description: 'where runs, journals and locks are kept [default: %ProgramData%\\qsadmin, or $XDG_STATE_HOME/qsadmin]',
      env: 'QSADMIN_STATE_DIR',
      helpGroup: 'GLOBAL',
    }),
    site: Flags.string({
      description: 'site config file (JSON); default: the demo site when one exists',
      env: 'QSADMIN_SITE',
      helpGroup: 'GLOBAL',
    }),
    verbose: Flags.boolean({ description: 'show every log line of every step', env: 'QSADMIN_VERBOSE', helpGroup: 'GLOBAL' }),
  };

  protected stateDir!: string;
  protected verbose = false;
  private siteCache?: SiteConfig;
  private sitePathFlag?: string;

  /** Parse the shared flags; site-config "defaults" apply where neither a flag nor a variable was given. */
  protected async parseCommon<T extends typeof Command>(cmd: T): Promise<{ flags: BaseFlags<T>; args: Interfaces.InferredArgs<T['args']> }> {
    const parsed = await this.parse(cmd as never);
    const flags = parsed.flags as BaseFlags<T>;
    this.sitePathFlag = (flags as { site?: string }).site;
    const defaults = this.siteDefaultsIfAny();
    this.stateDir = path.resolve((flags as { 'state-dir'?: string })['state-dir'] ?? (defaults.stateDir as string | undefined) ?? defaultStateDir());
    this.verbose = !!((flags as { verbose?: boolean }).verbose ?? defaults.verbose);
    return { flags, args: parsed.args as Interfaces.InferredArgs<T['args']> };
  }

  /** The site config path: --site, QSADMIN_SITE, or the demo site in the state dir. */
  protected sitePath(): string {
    if (this.sitePathFlag) return path.resolve(this.sitePathFlag);
    // `qsadmin demo` leaves a pointer to its site in the state dir.
    const pointer = path.join(this.stateDir ?? defaultStateDir(), 'demo.json');
    try {
      const { siteFile } = JSON.parse(fs.readFileSync(pointer, 'utf8')) as { siteFile: string };
      if (fs.existsSync(siteFile)) return siteFile;
    } catch {
      // no demo site
    }
    throw new InputError('no site given', 'pass --site <site.json> or set QSADMIN_SITE; `qsadmin demo` creates a demo site');
  }

  /** Load the site config (once). */
  protected async site(): Promise<SiteConfig> {
    if (!this.siteCache) {
      const { loadSiteConfig } = await import('../site/config.js');
      this.siteCache = loadSiteConfig(this.sitePath());
    }
    return this.siteCache;
  }

  private siteDefaultsIfAny(): Record<string, unknown> {
    try {
      if (!this.sitePathFlag) return {};
      const raw = JSON.parse(fs.readFileSync(path.resolve(this.sitePathFlag), 'utf8')) as { defaults?: Record<string, unknown> };
      return raw.defaults ?? {};
    } catch {
      return {}; // a broken config is reported when the command loads the site
    }
  }

  /** Progress goes to stderr; the renderer follows the terminal (default on a TTY, simple in CI / pipes). */
  protected renderer(): RendererChoice {
    const forced = process.env.QSADMIN_RENDERER as RendererChoice | undefined;
    if (forced) return forced;
    if (this.verbose) return 'verbose';
    if (process.stderr.isTTY && !process.env.CI && !process.env.NO_COLOR) return 'default';
    return 'simple';
  }

  protected interactive(): boolean {
    return !!process.stdin.isTTY && !!process.stderr.isTTY && !process.env.CI;
  }

  /** Print to stdout unless --json (then the JSON result is the only stdout). */
  protected say(text: string): void {
    if (!this.jsonEnabled()) this.log(text);
  }

  /** Map any error to a message, a hint and a documented exit code (JSON with --json). */
  protected override async catch(err: Error & { exitCode?: number; code?: string; oclif?: { exit?: number } }): Promise<unknown> {
    if (err.code === 'EEXIT') throw err; // this.exit()
    if (err instanceof RunAlreadySucceeded) {
      const { formatSummary } = await import('../runbook/plan-printer.js');
      process.exitCode = EXIT.ok;
      if (this.jsonEnabled()) this.logJson(err.result);
      else this.log(formatSummary(err.result));
      return undefined;
    }
    let exitCode: number = EXIT.stepFailed;
    let hint: string | undefined;
    if (err instanceof QsadminError) {
      exitCode = err.exitCode;
      hint = err.hint;
    } else if (err.oclif?.exit !== undefined || /Unexpected argument|Missing required|Nonexistent flag|Expected --|Parsing --/.test(err.message)) {
      exitCode = EXIT.badInput; // oclif's own parse errors are bad input
      hint = `see: qsadmin ${this.id?.replace(/:/g, ' ') ?? ''} --help`;
    }
    process.exitCode = exitCode;
    if (this.jsonEnabled()) {
      this.logJson({ status: 'error', exitCode, error: { message: errorMessage(err), hint } });
    } else {
      process.stderr.write(`Error: ${errorMessage(err)}\n${hint ? `Hint: ${hint}\n` : ''}`);
      if (this.verbose && err.stack) process.stderr.write(err.stack + '\n');
    }
    return undefined;
  }
}

/**
 * --node, for the commands that act on one node (services, certs). Runbooks that always cover the whole site
 * (backup, restore) do not take it: a flag that is accepted and then ignored reads as "done" when nothing was.
 */
export const nodeFlag = Flags.string({ description: 'act on this node only (name or hostname)', env: 'QSADMIN_NODE', helpGroup: 'RUN' });

/** Not an error: `--resume` of a run that already succeeded ends the command at once, exit 0, nothing touched. */
export class RunAlreadySucceeded extends Error {
  constructor(readonly result: RunResult) {
    super(`run ${result.runId} already succeeded`);
  }
}

/** A command that runs a runbook: adds --dry-run, --resume, --yes. */
export abstract class RunbookCommand extends QsadminCommand {
  static override baseFlags = {
    ...QsadminCommand.baseFlags,
    'dry-run': Flags.boolean({ description: 'print the ordered plan (per node) and change nothing', env: 'QSADMIN_DRY_RUN', helpGroup: 'RUN' }),
    resume: Flags.string({ description: 'resume an interrupted or failed run by its id', env: 'QSADMIN_RESUME', helpGroup: 'RUN' }),
    yes: Flags.boolean({ char: 'y', description: 'confirm destructive steps without a prompt', env: 'QSADMIN_YES', helpGroup: 'RUN' }),
  };

  /**
   * Parse as every command does; with --resume of a run that already succeeded, stop here, before the runbook is
   * built: building it may ask for a password or probe the site, and a finished run must not touch anything.
   */
  protected override async parseCommon<T extends typeof Command>(cmd: T): Promise<{ flags: BaseFlags<T>; args: Interfaces.InferredArgs<T['args']> }> {
    const parsed = await super.parseCommon(cmd);
    const resume = (parsed.flags as { resume?: string }).resume;
    if (resume) await this.refuseReplay(resume);
    if ((parsed.flags as { 'dry-run'?: boolean })['dry-run']) (await import('./secrets.js')).planOnly(true);
    return parsed;
  }

  /** Throws RunAlreadySucceeded (exit 0, says when and how it ended) when the run finished. */
  protected async refuseReplay(runId: string): Promise<void> {
    const { finishedRunResult } = await import('../runbook/runner.js');
    const done = finishedRunResult(this.stateDir, runId);
    if (done) throw new RunAlreadySucceeded(done);
  }

  /** Run a runbook with the common flags and print the plan, the summary or the JSON result. */
  protected async execute<C extends StepContext>(rb: Runbook<C>, flags: { 'dry-run'?: boolean; resume?: string; yes?: boolean }): Promise<RunResult> {
    const { runRunbook } = await import('../runbook/runner.js');
    const { formatPlan, formatSummary } = await import('../runbook/plan-printer.js');
    const opts: RunOptions = {
      stateDir: this.stateDir,
      dryRun: flags['dry-run'],
      yes: flags.yes,
      resume: flags.resume,
      renderer: this.renderer(),
      toolVersion: this.config.version,
      confirm: this.interactive() ? confirmPrompt : undefined,
    };
    const result = await runRunbook(rb, opts);
    if (result.status === 'planned') {
      const destructive = new Set<string>();
      const { flattenSteps } = await import('../runbook/step.js');
      for (const { step } of flattenSteps(rb.items)) if (step.destructive) destructive.add(step.id);
      this.say(formatPlan(result, { destructive }));
      // what a real run would ask for, that the dry run did not: confirmation, run-time secrets
      const { secretsNotAsked } = await import('./secrets.js');
      const asks = secretsNotAsked().map((s) => `  would ask for: the ${s.label} (from ${s.env}${s.flag ? ` or the variable named by ${s.flag}` : ''}, or a prompt on a terminal)`);
      if (destructive.size && !flags.yes) asks.push('  would ask for: confirmation of the destructive steps (or pass --yes)');
      if (asks.length) this.say(asks.join('\n'));
    } else if (!this.jsonEnabled()) {
      process.stderr.write(formatSummary(result) + '\n');
      if (rb.report) this.say(rb.report(result));
    } else if (result.status === 'interrupted' || result.exitCode > EXIT.verificationFailed) {
      // --json keeps stdout for the result; what a signal did and how to go on are for the operator on stderr
      process.stderr.write(`${result.error?.message ?? 'interrupted'}\n${result.error?.hint ?? `resume with: qsadmin runs resume ${result.runId}`}\n`);
    }
    process.exitCode = result.exitCode;
    return result;
  }
}

async function confirmPrompt(message: string): Promise<boolean> {
  const { confirm } = await import('@inquirer/prompts');
  return confirm({ message, default: false }, { output: process.stderr });
}
