// `qsadmin db harden --scram`: the guide's §6.7 "Changing from MD5 to SCRAM encryption", in its order: check
// password_encryption and both hashes → set scram-sha-256 → reload → re-set the qliksenserepository and postgres
// passwords (the same passwords, from the environment) → verify both hashes are SCRAM → pg_hba.conf md5 →
// scram-sha-256 (a copy of the file kept) → restart the repository database service, in order with the Qlik services.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { NOT_ASKED_IN_DRY_RUN, readSecret } from '../cli/secrets.js';
import { connect, explainConnectError, ident, literal, type PgConn } from '../postgres/client.js';
import { linesWithMethod, switchHbaMethod } from '../postgres/hba.js';
import { scramVerifier } from '../postgres/scram.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { databasePassword, superuserConn } from '../site/database.js';
import { centralNode, findNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import type { ServiceName } from '../site/services.js';
import type { BuildEnv } from './registry.js';
import { hostPool, siteLockKey, startNodeOrder, startServiceSteps, stopNodeOrder, stopServiceSteps, waitRepositoryStep, type HostsContext } from './service-steps.js';

export const REPOSITORY_USER = 'qliksenserepository';
export const DEFAULT_REPOSITORY_PASSWORD_ENV = 'QSADMIN_REPOSITORY_PASSWORD';
const SCRAM = 'scram-sha-256';

export interface DbHardenInputs {
  sitePath: string;
  repositoryPasswordEnv: string;
  timeoutMs?: number;
}

interface HardenContext extends HostsContext {
  superuserPassword: string;
  repositoryPassword: string;
  /** The data folder (pg_hba.conf), as node:fs opens it. */
  dataDir: string;
  timeoutMs?: number;
}

/** What a password hash is: PostgreSQL stores "md5<32 hex>" or "SCRAM-SHA-256$...". */
export function hashKind(hash: string | null): 'md5' | 'scram-sha-256' | 'none' | 'other' {
  if (!hash) return 'none';
  if (hash.startsWith('SCRAM-SHA-256$')) return 'scram-sha-256';
  return /^md5[0-9a-f]{32}$/.test(hash) ? 'md5' : 'other';
}

// One superuser session for a step.
async function withSuperuser<T>(ctx: HardenContext, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(superuserConn(ctx.site, ctx.superuserPassword) as PgConn, { applicationName: 'qsadmin db harden' });
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

// `show password_encryption;` (guide step 1 and 6).
async function passwordEncryption(c: pg.Client): Promise<string> {
  return (await c.query<{ password_encryption: string }>('SHOW password_encryption')).rows[0].password_encryption;
}

// The stored hash kind of a role (`select passwd from pg_shadow where usename = ...`, steps 2, 3, 9, 10); the hash itself never leaves here.
async function roleHash(c: pg.Client, role: string): Promise<ReturnType<typeof hashKind>> {
  const r = await c.query<{ passwd: string | null }>('SELECT passwd FROM pg_shadow WHERE usename = $1', [role]);
  if (r.rows.length === 0) throw new InputError(`the database has no role "${role}"`, 'is this the Qlik Sense repository database? (site.database host and port)');
  return hashKind(r.rows[0].passwd);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const hbaFile = (ctx: HardenContext) => path.join(ctx.dataDir, 'pg_hba.conf');
/** The copy kept beside pg_hba.conf (where an administrator looks first), and one in the run folder. */
export const HBA_COPY = 'pg_hba.conf.qsadmin-before-scram';

// The steps that re-set one role's password with SCRAM (guide steps 7 and 8).
function resetPasswordStep(db: NodeConfig, role: string, pick: (ctx: HardenContext) => string, guideStep: number): Step<HardenContext> {
  return {
    id: `db.harden.password.${role}`,
    title: `Re-set the password of ${role} so that it is stored with SCRAM (alter user ${role} with password '*****'; §6.7 step ${guideStep})`,
    node: db.name,
    check: async (ctx) => withSuperuser(ctx, async (c) => (await roleHash(c, role)) === SCRAM),
    run: async (ctx) =>
      withSuperuser(ctx, async (c) => {
        await c.query(`SET password_encryption = '${SCRAM}'`);
        // the verifier, made here, rather than the password: a failed statement is logged by the server with its text
        const verifier = scramVerifier(pick(ctx));
        await c.query(`ALTER USER ${ident(role)} WITH PASSWORD ${literal(verifier ?? pick(ctx))}`);
        ctx.log(`ALTER ROLE: ${role}'s password stored again (now ${await roleHash(c, role)})`);
      }),
  };
}

// The restart of the repository database service (or, for a dedicated server qsadmin cannot restart, a reload).
function restartDatabaseStep(site: SiteConfig, db: NodeConfig): Step<HardenContext> {
  const service = site.database.service;
  return {
    id: 'db.harden.restart-database',
    title: service ? `Restart the repository database service ${service} (§6.7 pg_hba.conf step 4)` : 'Reload the configuration of the dedicated database server (pg_reload_conf)',
    node: db.name,
    check: async (ctx) => {
      const changed = ctx.outputs.get<string>('db.harden.hbaChangedAt');
      if (!changed) return false;
      try {
        const started = await withSuperuser(ctx, async (c) => (await c.query<{ t: Date }>(service ? 'SELECT pg_postmaster_start_time() AS t' : 'SELECT pg_conf_load_time() AS t')).rows[0].t);
        return started.getTime() > new Date(changed).getTime();
      } catch {
        return false; // stopped: the restart is not done
      }
    },
    run: async (ctx) => {
      if (!service) {
        await withSuperuser(ctx, (c) => c.query('SELECT pg_reload_conf()'));
        ctx.log('the dedicated server reloaded its configuration; restart its service when you can, as the guide says');
        return;
      }
      const host = await ctx.host(db.name);
      await host.services.stop(service as ServiceName, { timeoutMs: ctx.timeoutMs });
      await host.services.start(service as ServiceName, { timeoutMs: ctx.timeoutMs });
    },
  };
}

// Build the MD5 → SCRAM runbook. Refused (exit 2) before anything changes: a wrong password, no pg_hba.conf to edit.
export async function buildDbHarden(inputs: DbHardenInputs, env: BuildEnv): Promise<Runbook<HardenContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const dbNode = site.database.node ? findNode(site, site.database.node) : centralNode(site);
  const superuserPassword = await databasePassword(site, env.interactive);
  const repositoryPassword = await readSecret({ label: `password of the database user ${REPOSITORY_USER} (the one in the connection strings)`, env: inputs.repositoryPasswordEnv, runTimeOnly: true }, env.interactive);
  const { openHost } = await import('../host/index.js');
  const pool = hostPool(site, openHost);
  let dataDir: string;
  try {
    const loc = await (await pool.host(dbNode.name)).database();
    if (!loc?.dataDir) {
      throw new InputError(`qsadmin cannot reach the data folder of the repository database from here (no database service on ${dbNode.name}, or not the machine qsadmin runs on)`,
        'run db harden on the node that runs the repository database (pg_hba.conf is edited there)');
    }
    dataDir = loc.dataDir;
    await fs.access(path.join(dataDir, 'pg_hba.conf'));
    if (repositoryPassword !== NOT_ASKED_IN_DRY_RUN) await checkPasswords(site, superuserPassword, repositoryPassword);
  } catch (e) {
    await pool.closeAll();
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`no pg_hba.conf in ${dataDir!}`, 'the database service\'s data folder does not hold pg_hba.conf: check site.database');
    throw e;
  }
  const timeoutMs = inputs.timeoutMs;
  const stops = stopNodeOrder(site).flatMap((n) => stopServiceSteps<HardenContext>(n, { timeoutMs, idPrefix: 'db.harden.stop' }));
  const starts = [...startNodeOrder(site).flatMap((n) => startServiceSteps<HardenContext>(n, { timeoutMs, idPrefix: 'db.harden.start' })),
    waitRepositoryStep<HardenContext>(centralNode(site), { timeoutMs, idPrefix: 'db.harden.wait' })];
  const items: Step<HardenContext>[] = [
    {
      id: 'db.harden.inspect',
      title: 'Check password_encryption and how the qliksenserepository and postgres passwords are stored (§6.7 steps 1-3)',
      node: dbNode.name,
      check: async () => false,
      run: async (ctx) =>
        withSuperuser(ctx, async (c) => {
          const before = { encryption: await passwordEncryption(c), [REPOSITORY_USER]: await roleHash(c, REPOSITORY_USER), [site.database.superuser]: await roleHash(c, site.database.superuser) };
          const md5Lines = linesWithMethod(await fs.readFile(hbaFile(ctx), 'utf8'), 'md5').length;
          ctx.log(`password_encryption = ${before.encryption}; ${REPOSITORY_USER}: ${before[REPOSITORY_USER]}; ${site.database.superuser}: ${before[site.database.superuser]}; pg_hba.conf: ${md5Lines} md5 line(s)`);
          if (ctx.outputs.get('db.harden.before') === undefined) ctx.outputs.set('db.harden.before', { ...before, pgHbaMd5Lines: md5Lines });
        }),
    },
    {
      id: 'db.harden.safety-copy',
      title: `Copy pg_hba.conf to ${HBA_COPY} beside it and to the run folder, and verify both copies`,
      node: dbNode.name,
      check: async (ctx) => {
        const rec = ctx.outputs.get<{ sha256: string }>('db.harden.hbaCopy');
        if (!rec) return false;
        for (const f of [path.join(ctx.dataDir, HBA_COPY), path.join(ctx.runDir, 'pg_hba.conf')]) {
          try {
            if (sha256(await fs.readFile(f)) !== rec.sha256) return false;
          } catch {
            return false;
          }
        }
        return true;
      },
      run: async (ctx) => {
        const original = await fs.readFile(hbaFile(ctx));
        if (linesWithMethod(original.toString('utf8'), 'md5').length === 0 && ctx.outputs.get('db.harden.hbaCopy') === undefined && (await exists(path.join(ctx.dataDir, HBA_COPY)))) {
          ctx.log(`pg_hba.conf has no md5 line; the copy ${HBA_COPY} of an earlier run is kept as it is`);
        }
        const st = await fs.stat(hbaFile(ctx));
        for (const f of [path.join(ctx.dataDir, HBA_COPY), path.join(ctx.runDir, 'pg_hba.conf')]) {
          await fs.writeFile(f, original, { mode: 0o600 });
          if (f.startsWith(ctx.dataDir)) await fs.chown(f, st.uid, st.gid).catch(() => undefined);
          if (sha256(await fs.readFile(f)) !== sha256(original)) throw new VerificationError(`the copy ${f} of pg_hba.conf does not match the original`);
        }
        ctx.outputs.set('db.harden.hbaCopy', { file: path.join(ctx.dataDir, HBA_COPY), runCopy: path.join(ctx.runDir, 'pg_hba.conf'), sha256: sha256(original) });
      },
    },
    {
      id: 'db.harden.password-encryption',
      title: "Set password_encryption to scram-sha-256 and reload (alter system set password_encryption = 'scram-sha-256'; select pg_reload_conf(); §6.7 steps 4-6)",
      node: dbNode.name,
      check: async (ctx) => withSuperuser(ctx, async (c) => (await passwordEncryption(c)) === SCRAM),
      run: async (ctx) => {
        await withSuperuser(ctx, async (c) => {
          await c.query(`ALTER SYSTEM SET password_encryption = '${SCRAM}'`);
          await c.query('SELECT pg_reload_conf()');
        });
        // the reload is asynchronous: a new session sees it once the postmaster has read the file
        const deadline = Date.now() + 10_000;
        for (;;) {
          const now = await withSuperuser(ctx, (c) => passwordEncryption(c));
          if (now === SCRAM) return ctx.log('show password_encryption: scram-sha-256');
          if (Date.now() > deadline) throw new Error(`password_encryption is still ${now} after pg_reload_conf(): see the server log in ${ctx.dataDir}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      },
    },
    resetPasswordStep(dbNode, REPOSITORY_USER, (ctx) => ctx.repositoryPassword, 7),
    resetPasswordStep(dbNode, site.database.superuser, (ctx) => ctx.superuserPassword, 8),
    {
      id: 'db.harden.verify-hashes',
      title: `Verify that both passwords are stored with SCRAM (§6.7 steps 9-10)`,
      node: dbNode.name,
      run: async (ctx) =>
        withSuperuser(ctx, async (c) => {
          for (const role of [REPOSITORY_USER, site.database.superuser]) {
            const kind = await roleHash(c, role);
            if (kind !== SCRAM) throw new VerificationError(`the password of ${role} is stored as ${kind}, not SCRAM`, 'resume the run: the password steps run again');
          }
          ctx.log('both passwords are stored as SCRAM-SHA-256');
        }),
    },
    {
      id: 'db.harden.pg-hba',
      title: 'Change md5 to scram-sha-256 in pg_hba.conf (§6.7 pg_hba.conf steps 1-3)',
      node: dbNode.name,
      destructive: true,
      check: async (ctx) => linesWithMethod(await fs.readFile(hbaFile(ctx), 'utf8'), 'md5').length === 0 && ctx.outputs.get('db.harden.hbaChangedAt') !== undefined,
      run: async (ctx) => {
        const file = hbaFile(ctx);
        const copy = ctx.outputs.require<{ sha256: string }>('db.harden.hbaCopy', 'db.harden.safety-copy');
        if (sha256(await fs.readFile(path.join(ctx.dataDir, HBA_COPY))) !== copy.sha256) throw new Error(`the copy ${HBA_COPY} changed since it was made: resume so that the safety copy runs again`);
        const text = await fs.readFile(file, 'utf8');
        const changed = switchHbaMethod(text, 'md5', SCRAM);
        const st = await fs.stat(file);
        const tmp = `${file}.qsadmin-tmp`;
        await fs.writeFile(tmp, changed, { mode: st.mode & 0o777 });
        await fs.chown(tmp, st.uid, st.gid).catch(() => undefined);
        await fs.rename(tmp, file);
        ctx.log(`pg_hba.conf: ${linesWithMethod(text, 'md5').length} md5 line(s) now scram-sha-256`);
        ctx.outputs.set('db.harden.hbaChangedAt', new Date().toISOString());
      },
    },
    ...stops,
    { ...restartDatabaseStep(site, dbNode), onInterrupt: 'run' as const },
    ...starts.map((s) => ({ ...s, onInterrupt: 'run' as const })),
    {
      id: 'db.harden.verify',
      title: 'Verify: the loaded pg_hba.conf has no md5 rule, both hashes are SCRAM, qliksenserepository logs on with SCRAM',
      node: dbNode.name,
      run: async (ctx) => {
        const rules = await withSuperuser(ctx, async (c) => (await c.query<{ line_number: number; auth_method: string; error: string | null }>('SELECT line_number, auth_method, error FROM pg_hba_file_rules')).rows);
        const md5 = rules.filter((r) => r.auth_method === 'md5');
        const broken = rules.filter((r) => r.error);
        if (md5.length || broken.length) throw new VerificationError(`pg_hba.conf as loaded: ${md5.length} md5 rule(s) (lines ${md5.map((r) => r.line_number).join(', ')}), ${broken.length} rule(s) in error`);
        const after = await withSuperuser(ctx, async (c) => ({ encryption: await passwordEncryption(c), [REPOSITORY_USER]: await roleHash(c, REPOSITORY_USER), [site.database.superuser]: await roleHash(c, site.database.superuser) }));
        await checkPasswords(site, ctx.superuserPassword, ctx.repositoryPassword);
        ctx.outputs.set('db.harden.after', { ...after, pgHbaMd5Lines: 0 });
        ctx.log(`password_encryption = ${after.encryption}; both roles SCRAM; ${REPOSITORY_USER} and ${site.database.superuser} log on`);
      },
    },
  ];
  return {
    name: 'db.harden',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    secrets: [superuserPassword, repositoryPassword],
    notes: [
      `database ${site.database.host}:${site.database.port} (service ${site.database.service ?? 'none: a dedicated server'} on ${dbNode.name}); pg_hba.conf in ${dataDir}`,
      `the passwords are re-set to the SAME values (the superuser's from ${site.database.passwordEnv ?? 'QSADMIN_DB_PASSWORD'}, ${REPOSITORY_USER}'s from ${inputs.repositoryPasswordEnv}): the connection strings on every node stay valid`,
      'the Qlik services of every node stop (rims first) around the database restart and start again central first',
    ],
    items,
    context: (b: StepContext) => ({ ...b, site, host: pool.host, superuserPassword, repositoryPassword, dataDir, timeoutMs }),
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

async function exists(f: string): Promise<boolean> {
  return fs.access(f).then(() => true, () => false);
}

// Both passwords must log on now, before anything changes: re-setting a wrong one would lock the services out.
async function checkPasswords(site: SiteConfig, superuserPassword: string, repositoryPassword: string): Promise<void> {
  const su = superuserConn(site, superuserPassword) as PgConn;
  for (const [conn, env] of [[su, site.database.passwordEnv ?? 'QSADMIN_DB_PASSWORD'], [{ ...su, user: REPOSITORY_USER, password: repositoryPassword, database: 'QSR' }, 'the repository password variable']] as const) {
    try {
      const c = await connect(conn, { applicationName: 'qsadmin db harden' });
      await c.end();
    } catch (e) {
      const err = explainConnectError(conn, e);
      if ((e as { code?: string }).code === '28P01' || /password authentication failed/i.test(String((e as Error).message))) {
        throw new InputError(`${conn.user} cannot log on to ${conn.host}:${conn.port} with the password from ${env}`,
          `db harden re-sets each password to the value you give: it must be the current one (the one in the connection strings); nothing was changed`);
      }
      throw err;
    }
  }
}
