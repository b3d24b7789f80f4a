// Emulator options stored in site.emulator (besides faults): timeouts, assumptions, where the demo secrets live.
import type { SiteConfig } from '../../site/model.js';

export interface EmulatorOptions {
  /** Directory of the emulated site (site.json, secrets/, nodes/). */
  siteDir?: string;
  /** Demo only: file with the database superuser password, read when database.passwordEnv is not set. */
  passwordFile?: string;
  /** How long a stop waits for a service process to exit (Windows waits about 30 s). */
  stopTimeoutMs?: number;
  /** How long a start waits for a service to listen on its ports. */
  startTimeoutMs?: number;
  /** How long QRS stays in servicestate 0 (initializing) before it reads its database and certificates. */
  qrsInitDelayMs?: number;
  /** EnableHttpPort of the shared persistence configuration: the proxy also listens on 80. */
  enableHttpPort?: boolean;
  /** Behaviours the guide does not document; each is an EMULATOR ASSUMPTION and can be switched off. */
  assumptions?: { hostnameMustMatch?: boolean };
  /** Emulated Qlik Sense release reported by /qrs/about. */
  buildVersion?: string;
}

export const DEFAULT_STOP_TIMEOUT_MS = 30_000;
export const DEFAULT_START_TIMEOUT_MS = 60_000;
export const DEFAULT_QRS_INIT_DELAY_MS = 200;
/** Build version /qrs/about reports (emulated; not taken from a real release). */
export const DEFAULT_BUILD_VERSION = '14.222.5';

/** The emulator options with every default filled in. */
export type ResolvedEmulatorOptions = EmulatorOptions &
  Required<Pick<EmulatorOptions, 'stopTimeoutMs' | 'startTimeoutMs' | 'qrsInitDelayMs' | 'enableHttpPort' | 'buildVersion'>> & {
    assumptions: { hostnameMustMatch: boolean };
  };

// The emulator options of a site with defaults filled in.
export function emulatorOptions(site: SiteConfig): ResolvedEmulatorOptions {
  const o = (site.emulator ?? {}) as EmulatorOptions;
  return {
    ...o,
    stopTimeoutMs: o.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    startTimeoutMs: o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    qrsInitDelayMs: o.qrsInitDelayMs ?? DEFAULT_QRS_INIT_DELAY_MS,
    enableHttpPort: o.enableHttpPort ?? false,
    assumptions: { hostnameMustMatch: o.assumptions?.hostnameMustMatch ?? true },
    buildVersion: o.buildVersion ?? DEFAULT_BUILD_VERSION,
  };
}
