// Windows command lines, both ways. A process on Windows gets one string and splits it itself (CommandLineToArgvW
// rules, which the C runtime and .NET follow): reading a service's command line (Win32_Service.PathName) tells the
// repository database's bin and data folders; joining is how .NET Framework's ProcessStartInfo.Arguments (a single
// string, PowerShell 5.1) must be given an argument list that arrives unchanged.
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

/** One argument quoted so that CommandLineToArgvW gives it back unchanged (backslashes doubled only before a quote). */
export function quoteArgument(arg: string): string {
  if (arg && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  for (let i = 0; i < arg.length; i++) {
    let n = 0;
    while (arg[i] === '\\') {
      n++;
      i++;
    }
    if (i === arg.length) {
      out += '\\'.repeat(n * 2); // before the closing quote
      break;
    }
    if (arg[i] === '"') out += '\\'.repeat(n * 2 + 1) + '"';
    else out += '\\'.repeat(n) + arg[i];
  }
  return out + '"';
}

/** A command line from an argument list (the inverse of splitCommandLine). */
export function joinCommandLine(args: string[]): string {
  return args.map(quoteArgument).join(' ');
}
