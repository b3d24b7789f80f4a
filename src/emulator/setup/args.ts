// The command line of Qlik_Sense_setup.exe exactly as the guide documents it (§4.1-§4.4): commands (-silent/-s,
// -uninstall, -log/-l <file>, -layout <dir>, -repair, -?/-h) and name=value arguments. Deprecated arguments are
// accepted with a warning (the guide says "no longer recommended", not rejected); anything else is a parse error.

/** Arguments of the install, upgrade and repair (§4.1, §4.2). */
export const SETUP_ARGUMENTS = [
  'accepteula', 'desktopshortcut', 'skipstartservices', 'installdir', 'userwithdomain', 'userpassword', 'dbpassword',
  'hostname', 'cleanup', 'sharedpersistenceconfig', 'spc', 'senddata', 'skipvalidation', 'bundleinstall',
  'databasedumpfile', 'keepcurrentsettings',
] as const;

/** Deprecated arguments (§4.1 "Deprecated command line arguments"). */
export const DEPRECATED_ARGUMENTS = ['rimnode', 'rimnodetype', 'setuplocalloggingdb', 'qlogswriterpassword', 'qlogsreaderpassword', 'qlogshostname', 'qlogsport'];

/** Arguments whose values are secrets: never echoed, never logged. */
export const SECRET_ARGUMENTS = ['userpassword', 'dbpassword', 'qlogswriterpassword', 'qlogsreaderpassword'];

const FLAGS_01 = ['accepteula', 'desktopshortcut', 'skipstartservices', 'cleanup', 'senddata', 'skipvalidation', 'keepcurrentsettings'];

export interface SetupCommandLine {
  silent: boolean;
  uninstall: boolean;
  repair: boolean;
  help: boolean;
  log?: string;
  layout?: string;
  /** name=value arguments, lower-case names (spc is stored as sharedpersistenceconfig). */
  values: Record<string, string>;
  warnings: string[];
}

export class SetupArgsError extends Error {}

/** Parse setup's argv; throws SetupArgsError (exit -2, "Command line parsing error") on what the guide does not list. */
export function parseSetupArgs(argv: string[]): SetupCommandLine {
  const out: SetupCommandLine = { silent: false, uninstall: false, repair: false, help: false, values: {}, warnings: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const lower = a.toLowerCase();
    if (lower === '-silent' || lower === '-s') out.silent = true;
    else if (lower === '-uninstall') out.uninstall = true;
    else if (lower === '-repair') out.repair = true;
    else if (lower === '-?' || lower === '-h') out.help = true;
    else if (lower === '-log' || lower === '-l' || lower === '-layout') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('-')) throw new SetupArgsError(`${a} needs a value`);
      if (lower === '-layout') out.layout = v;
      else out.log = v;
    } else if (lower === '-rimnodetype' || lower === '-rnt') {
      const v = argv[++i];
      if (!v || !/^(complete|proxy|engine|scheduler)$/i.test(v)) throw new SetupArgsError(`${a} takes Complete, Proxy, Engine or Scheduler`);
      out.warnings.push(`${a} is deprecated (no longer recommended, guide §4.1)`);
    } else if (/^[A-Za-z]+=/.test(a)) {
      const eq = a.indexOf('=');
      let name = a.slice(0, eq).toLowerCase();
      let value = a.slice(eq + 1);
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (name === 'spc') name = 'sharedpersistenceconfig';
      if (name === 'layout') {
        out.layout = value;
        continue;
      }
      if (DEPRECATED_ARGUMENTS.includes(name)) {
        out.warnings.push(`${a.slice(0, eq)} is deprecated (no longer recommended, guide §4.1)`);
        continue;
      }
      if (!(SETUP_ARGUMENTS as readonly string[]).includes(name)) throw new SetupArgsError(`unknown argument "${a.slice(0, eq)}"`);
      if (name in out.values) throw new SetupArgsError(`"${a.slice(0, eq)}" is given twice`);
      if (FLAGS_01.includes(name) && value !== '0' && value !== '1') throw new SetupArgsError(`${name} takes 1 or 0`);
      out.values[name] = value;
    } else if (lower === 'rimnode') {
      out.warnings.push('rimnode is deprecated (no longer recommended, guide §4.1)');
    } else {
      throw new SetupArgsError(`unknown command "${a}"`);
    }
  }
  if (out.uninstall && !out.silent) throw new SetupArgsError('-uninstall must be used with -silent');
  if (out.layout && (argv.length > 2 || out.silent)) throw new SetupArgsError('-layout must not be combined with other arguments');
  if ('cleanup' in out.values && !out.uninstall) throw new SetupArgsError('cleanup is only for -silent -uninstall');
  return out;
}

/** The argv for the log: secret values replaced by ***. */
export function redactSetupArgs(argv: string[]): string[] {
  return argv.map((a) => {
    const eq = a.indexOf('=');
    return eq > 0 && SECRET_ARGUMENTS.includes(a.slice(0, eq).toLowerCase()) ? `${a.slice(0, eq)}=***` : a;
  });
}
