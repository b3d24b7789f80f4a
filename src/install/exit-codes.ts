// Exit codes of Qlik_Sense_setup.exe, as the guide lists them (§8.11 L9993-10039, "complete list"). The guide maps
// no scenario to a code. Node on Windows may report a negative code unsigned (-1 as 4294967295): normalise first.

export const SETUP_EXIT_CODES: Record<number, string> = {
  0: 'Success',
  [-1]: 'General fatal error',
  [-2]: 'Command line parsing error',
  [-3]: 'Not implemented error',
  [-4]: 'Downgrade',
  [-5]: 'Malformed bundle XML',
  [-6]: 'Install condition not met',
  [-7]: 'Unknown upgrade scenario',
  [-8]: 'Pending reboot must be applied first',
  [-9]: 'Patch run with no baseline installed',
  [-10]: 'Disallowed setup process running',
  [-11]: 'Unsupported minor upgrade error',
  [-12]: 'Invalid policy',
  [-13]: 'User validation failed',
  [-14]: 'Database superuser password validation error',
  [-15]: 'Not supported error',
  [-16]: 'Host name from certificate retrieval error',
  [-17]: 'Inconsistent upgrade',
  [-18]: 'General silent workflow error',
  [-19]: 'OS bitness not supported',
  [-20]: 'OS too old',
  [-21]: 'OS type not supported',
  [-22]: 'Patch is superseded',
  [-23]: 'General MSI Error',
  [-24]: 'Disabled services exist',
  [-1335]: 'CAB is corrupt',
  [-1601]: 'Disk space',
  [-1602]: 'User exit',
  [-1923]: 'Cannot install service',
  [-7777]: 'Unknown dark process exception',
};

/** A process exit code as setup meant it: 4294967295 → -1 (a 32-bit unsigned value read as signed). */
export function normaliseExitCode(code: number): number {
  return code | 0;
}

/** What a setup exit code means, e.g. "-8 Pending reboot must be applied first"; unknown codes say so. */
export function describeSetupExit(code: number): { code: number; meaning: string; known: boolean } {
  const c = normaliseExitCode(code);
  const meaning = SETUP_EXIT_CODES[c];
  return meaning ? { code: c, meaning, known: true } : { code: c, meaning: `not in the guide's list of setup exit codes (§8.11)`, known: false };
}
