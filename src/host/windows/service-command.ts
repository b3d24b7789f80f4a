// Reading a Windows service's command line (Win32_Service.PathName): for the repository database it names the
// PostgreSQL bin folder (pg_ctl.exe's) and the data folder (-D), wherever Qlik's setup or QPI installed them.
import path from 'node:path';

const win = path.win32;

/** Split a command line the way CommandLineToArgvW does: quotes group, 2n backslashes + quote = n backslashes. */
export function splitCommandLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\') {
      let n = 0;
      while (line[i + n] === '\\') n++;
      if (line[i + n] === '"') {
        cur += '\\'.repeat(Math.floor(n / 2));
        if (n % 2 === 1) cur += '"';
        else quoted = !quoted;
        i += n;
      } else {
        cur += '\\'.repeat(n);
        i += n - 1;
      }
      any = true;
    } else if (ch === '"') {
      quoted = !quoted;
      any = true;
    } else if ((ch === ' ' || ch === '\t') && !quoted) {
      if (any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) out.push(cur);
  return out;
}

export interface PostgresServiceInfo {
  binDir: string;
  dataDir?: string;
  /** The service name pg_ctl was registered with (-N). */
  serviceName?: string;
}

/** The bin and data folders of a PostgreSQL service from its command line, or null when it is not pg_ctl/postgres. */
export function postgresServiceInfo(pathName: string): PostgresServiceInfo | null {
  const argv = splitCommandLine(pathName.trim());
  if (!argv.length || !/^(pg_ctl|postgres)(\.exe)?$/i.test(win.basename(argv[0]))) return null;
  const value = (flag: string) => {
    const i = argv.findIndex((a) => a === flag);
    if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
    const joined = argv.find((a) => a.startsWith(flag) && a.length > flag.length);
    return joined?.slice(flag.length);
  };
  return { binDir: win.dirname(argv[0]), dataDir: value('-D'), serviceName: value('-N') };
}
