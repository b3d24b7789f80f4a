// Running MongoDB's tools (mongodump, mongorestore, mongoexport) on the Alerting node the way the seed does
// (l.305-333), with the password never on the command line: the tools' --config=<file> (Database Tools 100.3.0+)
// takes a YAML file with `password:`, written 0600 by the private-file writer and removed after the run.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { EXIT, InputError, QsadminError } from '../runbook/errors.js';
import { writePrivate } from '../host/private-files.js';
import type { Host } from '../host/types.js';
import type { MongoConnection } from './config.js';

export type MongoTool = 'mongodump' | 'mongorestore' | 'mongoexport';

export interface ToolRun {
  host: Host;
  binDir: string; // Windows path of MongoDB's bin folder
  conn: MongoConnection;
  /** A private folder on the machine the tool runs on, for the --config file. */
  privateDir: string;
}

/** The connection options every tool takes: host and port, the user; the password goes to --config. */
export function connectionArgs(conn: MongoConnection, configFile?: string): string[] {
  const args = [`--host=${conn.host}`, `--port=${conn.port}`];
  if (conn.username) args.push(`--username=${conn.username}`, `--authenticationDatabase=${conn.authSource ?? 'admin'}`);
  if (conn.password !== undefined) {
    if (!configFile) throw new Error('a password needs a --config file');
    args.push(`--config=${configFile}`);
  }
  return args;
}

/** The YAML --config file: only `password` (the tools also take uri and sslPEMKeyPassword there). */
export function configYaml(password: string): string {
  // A YAML double-quoted scalar: JSON's escapes are YAML's.
  return `password: ${JSON.stringify(password)}\n`;
}

/** `mongodump --version` → [major, minor, patch] of the Database Tools (100.x) or the server-bundled tools (4.2.x). */
export function parseToolVersion(out: string): number[] | null {
  const m = /version:\s*r?(\d+)\.(\d+)\.(\d+)/.exec(out);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function exe(binDir: string, tool: MongoTool): string {
  return `${binDir}\\${tool}.exe`;
}

/**
 * Run a tool. With a password, the tools must be Database Tools 100.3.0 or later (the first with --config); older
 * tools would need the password in argv, which qsadmin refuses.
 */
export async function runTool(r: ToolRun, tool: MongoTool, args: string[], opts: { timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  let configFile: string | undefined;
  if (r.conn.password !== undefined) {
    const v = await r.host.exec(exe(r.binDir, tool), ['--version'], { timeoutMs: 30_000 });
    const ver = parseToolVersion(v.stdout + v.stderr);
    if (v.exitCode !== 0 || !ver) throw new InputError(`${exe(r.binDir, tool)} --version failed (exit ${v.exitCode}): ${(v.stderr || v.stdout).trim().split('\n')[0]}`, 'set alerting.mongoBinDir in the site config to the folder with the MongoDB tools');
    if (ver[0] < 100 || (ver[0] === 100 && ver[1] < 3)) {
      throw new InputError(
        `${tool} ${ver.join('.')} in ${r.binDir} has no --config option: MongoDB's password would have to go on its command line`,
        'install MongoDB Database Tools 100.3.0 or later and point alerting.mongoBinDir at their bin folder',
      );
    }
    configFile = path.join(r.privateDir, `mongo-${randomBytes(6).toString('hex')}.yaml`);
    await writePrivate(configFile, configYaml(r.conn.password));
  }
  try {
    const res = await r.host.exec(exe(r.binDir, tool), [...connectionArgs(r.conn, configFile), ...args], { timeoutMs: opts.timeoutMs ?? 30 * 60_000 });
    if (res.exitCode !== 0) {
      const why = (res.stderr || res.stdout).trim().split('\n').slice(-3).join(' / ');
      throw new QsadminError(`${tool} failed (exit ${res.exitCode}): ${why}`, EXIT.stepFailed, 'check that MongoDB runs on the Alerting node and the connection in default.json (qsadmin alerting check)');
    }
    return { stdout: res.stdout, stderr: res.stderr };
  } finally {
    if (configFile) fs.rmSync(configFile, { force: true });
  }
}
