// Checks that what qsadmin writes outside the site is private: at creation (from an strace of every open/mkdir) and after.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN } from './cli.js';

export interface Created {
  path: string;
  kind: 'file' | 'dir';
  mode: number;
  syscall: string;
}

/**
 * Run `qsadmin <args>` with umask 000 under strace (opens and mkdirs of the whole process tree) into `traceFile`.
 * strace follows every child, also the Qlik services a run starts again, which outlive it: once qsadmin itself has
 * exited, strace is stopped, which detaches it from them (they go on running).
 * The wrapper shell records qsadmin's pid and, once it exits, its status: strace's own "exited with" line can come late
 * or never (a thread group leader's exit is reported once all its threads are reaped, which a loaded machine holds up).
 */
export async function qsadminTraced(args: string[], traceFile: string, env: Record<string, string> = {}, strace: string[] = ['-e', 'trace=openat,open,creat,mkdir,mkdirat']) {
  const pidFile = `${traceFile}.pid`;
  const rcFile = `${traceFile}.rc`;
  const script = `umask 000; "$@" & echo $! > '${pidFile}'; wait $!; echo $? > '${rcFile}'`;
  const child = execa('strace', ['-f', '-q', ...strace, '-o', traceFile, 'sh', '-c', script, 'sh', 'node', BIN, ...args], {
    reject: false,
    env: { QSADMIN_RENDERER: 'simple', CI: 'true', NODE_ENV: 'production', ...env },
    timeout: 240_000,
  });
  const stdout: string[] = [];
  child.stdout!.on('data', (d: Buffer) => stdout.push(d.toString()));
  const stderr: string[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  let exitCode = -1;
  let done = false;
  const watch = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 100));
      const rc = readRc(rcFile);
      if (rc === undefined) continue;
      exitCode = rc;
      // Let strace write the last lines of the tree it still follows, then detach it from the services left running.
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      return;
    }
  })();
  await Promise.race([child, watch]);
  await child;
  done = true;
  if (exitCode === -1) exitCode = readRc(rcFile) ?? -1;
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
  return { exitCode, stdout: stdout.join(''), stderr: stderr.join(''), pid };
}

/** The status the wrapper shell wrote, once it is whole ("N\n", written by one echo). */
function readRc(file: string): number | undefined {
  const m = fs.existsSync(file) ? /^(\d+)\n$/.exec(fs.readFileSync(file, 'utf8')) : null;
  return m ? Number(m[1]) : undefined;
}

/** The first creation of each path under `root` in an strace file: O_CREAT opens with their mode, mkdirs with theirs. */
export function createdUnder(traceFile: string, root: string): Created[] {
  const seen = new Map<string, Created>();
  for (const line of fs.readFileSync(traceFile, 'utf8').split('\n')) {
    // A call on one thread while another thread's call is under way is split by strace -f: its arguments end with
    // " <unfinished ...>" and the result follows on a later line. Copies run on worker threads, so that is common.
    let m = /(openat|open|creat)\((?:AT_FDCWD, |\d+<?[^,]*>?, )?"([^"]+)", ([A-Z_|]+), (0[0-7]+)(?:\)| <unfinished)/.exec(line);
    if (m && m[3].includes('O_CREAT')) add(m[2], 'file', parseInt(m[4], 8), m[1]);
    m = /(mkdirat|mkdir)\((?:AT_FDCWD, )?"([^"]+)", (0[0-7]+)(?:\)| <unfinished)/.exec(line);
    if (m) add(m[2], 'dir', parseInt(m[3], 8), m[1]);
  }
  return [...seen.values()];

  // Record a path the first time it is created (later O_CREAT opens of an existing file do not set its mode).
  function add(p: string, kind: 'file' | 'dir', mode: number, syscall: string) {
    const abs = path.resolve(p);
    if (abs !== root && !abs.startsWith(root + path.sep)) return;
    if (!seen.has(abs)) seen.set(abs, { path: abs, kind, mode, syscall });
  }
}

/** Files and folders under `root` (not root itself: the user's folder) whose mode lets group or others read, write or enter. */
export function notPrivate(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (p !== root && (st.mode & 0o077) !== 0) out.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(root);
  return out;
}

/** Every file under a folder. */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    else out.push(p);
  };
  walk(root);
  return out;
}

/** Can the unprivileged user `nobody` read the file? (runuser, as root) */
export async function nobodyCanRead(file: string): Promise<boolean> {
  const r = await execa('runuser', ['-u', 'nobody', '--', 'cat', file], { reject: false });
  return r.exitCode === 0;
}
