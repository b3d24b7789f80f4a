// Errors of service control on every driver, worded as Windows words them (with the Win32 error number) plus the fix.

import { serviceFact } from '../site/services.js';

export type ServiceErrorCode = 'DEPENDENCY' | 'START_TIMEOUT' | 'STOP_TIMEOUT' | 'TERMINATED' | 'NOT_INSTALLED' | 'PENDING' | 'LOGON' | 'INVALID_ACCOUNT';

/** Win32 error numbers the service control manager reports. */
export const WIN32 = {
  DEPENDENCY: 1068, // The dependency service or group failed to start.
  START_TIMEOUT: 1053, // The service did not respond to the start or control request in a timely fashion.
  STOP_TIMEOUT: 1053,
  TERMINATED: 1067, // The process terminated unexpectedly.
  NOT_INSTALLED: 1060, // The specified service does not exist as an installed service.
  PENDING: 1061, // The service cannot accept control messages at this time.
  LOGON: 1069, // The service did not start due to a logon failure.
  INVALID_ACCOUNT: 1057, // The account name is invalid or does not exist, or the password is invalid for the account name specified.
} as const;

export class ServiceControlError extends Error {
  readonly windowsError: number;

  // An error about one service on one node.
  constructor(
    readonly code: ServiceErrorCode,
    readonly service: string,
    message: string,
    readonly dependency?: string,
  ) {
    super(message);
    this.name = 'ServiceControlError';
    this.windowsError = WIN32[code];
  }
}

/** "Qlik Sense Repository Service (QlikSenseRepositoryService)", as Windows names a service in its messages. */
export function serviceLabel(name: string): string {
  const display = serviceFact(name)?.display ?? name;
  return display === name ? name : `${display} (${name})`;
}

// Seconds for messages: "30s", "0.5s".
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}
