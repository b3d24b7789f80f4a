// The environment variable that carries the site config from the service control to a service process. A module of
// its own so that a service process reads it without loading what spawning needs (node:child_process).
export const SITE_ENV = 'QSADMIN_EMULATOR_SITE_JSON';
