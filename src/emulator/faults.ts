// Fault injection for the emulated site: read from site.emulator.faults and honoured by the service processes
// and by the emulated service control (DESIGN.md "The emulated site": "Faults can be injected by configuration").
import type { SiteConfig } from '../site/model.js';
import type { ServiceName } from '../site/services.js';

export interface FaultConfig {
  /** Services whose process ignores SIGTERM, so a stop runs into its timeout. */
  hangOnStop?: ServiceName[];
  /** Services whose process exits at start (Windows error 1067, "The process terminated unexpectedly"). */
  failToStart?: ServiceName[];
  /** Extra delay on every repository query and on the database service start. */
  slowDatabaseMs?: number;
  /** The database stops (immediate shutdown) this long after its service starts. */
  databaseGoesAwayAfterMs?: number;
  /**
   * QRS stays below servicestate 2 this long after its start-up work is done (its API and ports are up, /status/servicestate
   * says 0, "initializing"): a repository that never comes up within a run's timeout, and does later.
   */
  qrsStuckInitializingMs?: number;
  /** QRS connects to QSR with a wrong password (a changed qliksenserepository password not updated in its config). */
  wrongRepositoryPassword?: boolean;
}

// Read and check the fault configuration of a site; an unknown key is an error so that a typo does not silently disable a fault.
export function readFaults(site: SiteConfig): FaultConfig {
  const raw = (site.emulator?.faults ?? {}) as Record<string, unknown>;
  const known = ['hangOnStop', 'failToStart', 'slowDatabaseMs', 'databaseGoesAwayAfterMs', 'qrsStuckInitializingMs', 'wrongRepositoryPassword'];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw new Error(`site ${site.name}: unknown emulator fault "${key}": known faults are ${known.join(', ')}`);
  }
  const faults: FaultConfig = {};
  if (raw.hangOnStop !== undefined) faults.hangOnStop = serviceList(site, 'hangOnStop', raw.hangOnStop);
  if (raw.failToStart !== undefined) faults.failToStart = serviceList(site, 'failToStart', raw.failToStart);
  if (raw.slowDatabaseMs !== undefined) faults.slowDatabaseMs = milliseconds(site, 'slowDatabaseMs', raw.slowDatabaseMs);
  if (raw.databaseGoesAwayAfterMs !== undefined) faults.databaseGoesAwayAfterMs = milliseconds(site, 'databaseGoesAwayAfterMs', raw.databaseGoesAwayAfterMs);
  if (raw.qrsStuckInitializingMs !== undefined) faults.qrsStuckInitializingMs = milliseconds(site, 'qrsStuckInitializingMs', raw.qrsStuckInitializingMs);
  if (raw.wrongRepositoryPassword !== undefined) {
    if (typeof raw.wrongRepositoryPassword !== 'boolean') throw new Error(`site ${site.name}: emulator fault "wrongRepositoryPassword" must be true or false`);
    faults.wrongRepositoryPassword = raw.wrongRepositoryPassword;
  }
  return faults;
}

// True when the named service is configured to ignore SIGTERM.
export function hangsOnStop(faults: FaultConfig, name: ServiceName): boolean {
  return faults.hangOnStop?.includes(name) ?? false;
}

// True when the named service is configured to crash at start.
export function failsToStart(faults: FaultConfig, name: ServiceName): boolean {
  return faults.failToStart?.includes(name) ?? false;
}

// Check one fault value that lists service names.
function serviceList(site: SiteConfig, key: string, value: unknown): ServiceName[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new Error(`site ${site.name}: emulator fault "${key}" must be a list of service names, e.g. ["QlikSenseEngineService"]`);
  }
  return value as ServiceName[];
}

// Check one fault value that is a duration in milliseconds.
function milliseconds(site: SiteConfig, key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`site ${site.name}: emulator fault "${key}" must be a number of milliseconds >= 0 (got ${JSON.stringify(value)})`);
  }
  return value;
}
